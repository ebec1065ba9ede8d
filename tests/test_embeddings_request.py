"""`/v1/embeddings` request checks and the encoding of the answer."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest

from proxy.core.errors import GatewayError
from proxy.doors.embeddings import encode_answer, parse_embeddings


def parse(body: dict[str, Any]) -> Any:
    return parse_embeddings(orjson.dumps(body), {"embed": "text-embedding-3-small"})


@pytest.mark.parametrize("input_", ["alpha", ["alpha", "beta"], [1, 2, 3], [[1, 2], [3]]])
def test_strings_lists_and_token_arrays_are_all_accepted(input_: Any) -> None:
    assert parse({"model": "m", "input": input_}).body["input"] == input_


def test_only_the_clients_fields_are_forwarded_with_the_model_resolved() -> None:
    request = parse({"model": "embed", "input": "a", "extra": 1})
    assert request.body == {"model": "text-embedding-3-small", "input": "a"}  # no encoding_format added
    assert (request.model, request.requested_model, request.encoding) == (
        "text-embedding-3-small",
        "embed",
        "float",
    )
    sent = parse({"model": "m", "input": "a", "dimensions": 256, "encoding_format": "base64"})
    assert sent.body == {"model": "m", "input": "a", "dimensions": 256, "encoding_format": "base64"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "a"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": ""}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": ["a", ""]}, "input[1]"),
        ({"model": "m", "input": [[1], []]}, "input[1]"),
        ({"model": "m", "input": [{"text": "a"}]}, "input[0]"),
        ({"model": "m", "input": ["a"] * 2049}, "input"),
        ({"model": "m", "input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "m", "input": "a", "dimensions": 0}, "dimensions"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse(body)
    assert (caught.value.status, caught.value.param) == (400, param)


def test_floats_are_packed_as_little_endian_float32_when_base64_was_asked() -> None:
    answer = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.25, 3.0]}]}
    packed = encode_answer(answer, "base64")["data"][0]["embedding"]
    assert struct.unpack("<3f", base64.b64decode(packed)) == (0.5, -1.25, 3.0)


def test_base64_from_the_upstream_is_unpacked_when_floats_were_asked() -> None:
    packed = base64.b64encode(struct.pack("<2f", 0.25, 2.0)).decode()
    answer = {"data": [{"index": 0, "embedding": packed}]}
    assert encode_answer(answer, "float")["data"][0]["embedding"] == [0.25, 2.0]
