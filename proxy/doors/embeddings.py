"""`POST /v1/embeddings`: the request checked, and the answer in the encoding asked for.

Only the client's own fields are forwarded (the model renamed when aliased); in
particular no `encoding_format` is added when the client sent none. The OpenAI SDKs
ask for base64 by default and decode it client-side as little-endian float32, so an
upstream that ignores the field and answers floats is packed here, or the client
would decode garbage.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any, Literal

from proxy.core.events import Usage
from proxy.errors import invalid_request as invalid
from proxy.request import parse_json_body

MAX_INPUTS = 2048
_FIELDS = ("input", "model", "encoding_format", "dimensions", "user")

Encoding = Literal["float", "base64"]


@dataclass(frozen=True)
class EmbeddingsRequest:
    body: dict[str, Any]  # what the upstream gets
    model: str  # after alias resolution
    requested_model: str  # as the client named it
    encoding: Encoding  # what the client will decode


def parse_embeddings(raw: bytes, aliases: dict[str, str]) -> EmbeddingsRequest:
    body = parse_json_body(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("'model' is required and must be a non-empty string.", "model")
    _check_input(body.get("input"))
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ("float", "base64"):
        raise invalid("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise invalid("'dimensions' must be a positive integer.", "dimensions")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise invalid("'user' must be a string.", "user")
    resolved = aliases.get(model, model)
    forwarded = {key: body[key] for key in _FIELDS if body.get(key) is not None}
    forwarded["model"] = resolved
    return EmbeddingsRequest(forwarded, resolved, model, encoding or "float")


def _check_input(value: Any) -> None:
    """A string, a list of strings, a token array, or a list of token arrays; none empty."""
    if isinstance(value, str):
        if not value:
            raise invalid("'input' must not be an empty string.", "input")
        return
    if not isinstance(value, list) or not value:
        raise invalid("'input' must be a string, an array of strings or an array of token arrays.", "input")
    if len(value) > MAX_INPUTS:
        raise invalid(f"'input' may hold at most {MAX_INPUTS} items.", "input")
    if all(_is_token(t) for t in value):
        return
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if isinstance(item, str):
            if not item:
                raise invalid(f"'{where}' must not be an empty string.", where)
        elif isinstance(item, list):
            if not item or not all(_is_token(t) for t in item):
                raise invalid(f"'{where}' must be a non-empty array of token ids.", where)
        else:
            raise invalid(f"'{where}' must be a string or an array of token ids.", where)


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def encode_answer(answer: dict[str, Any], encoding: Encoding) -> dict[str, Any]:
    """The upstream's answer with every embedding in the encoding the client asked for."""
    data = answer.get("data")
    if not isinstance(data, list):
        return answer
    for item in data:
        if isinstance(item, dict) and "embedding" in item:
            item["embedding"] = _encoded(item["embedding"], encoding)
    return answer


def _encoded(vector: Any, encoding: Encoding) -> Any:
    if encoding == "base64" and isinstance(vector, list):
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    if encoding == "float" and isinstance(vector, str):
        packed = base64.b64decode(vector)
        return list(struct.unpack(f"<{len(packed) // 4}f", packed))
    return vector


def usage_of(answer: dict[str, Any]) -> Usage | None:
    usage = answer.get("usage")
    if not isinstance(usage, dict) or not isinstance(usage.get("prompt_tokens"), int):
        return None
    return Usage(prompt_tokens=usage["prompt_tokens"])
