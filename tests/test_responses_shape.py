"""The Responses door's byte templates against the dicts they stand for: the stream sends
the templates, the non-stream reply dumps the dicts, and a client must not tell them apart."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from proxy.core.events import Usage
from proxy.core.ids import new_id
from proxy.doors.responses.shape import (
    ResponseShell,
    Status,
    _incomplete,
    incomplete_json,
    message_item,
    message_json,
    usage_json,
    usage_of,
)

ECHOES: list[dict[str, Any]] = [
    {},
    {
        "instructions": 'Be "terse" %s %d %% \n \u00e9 \U0001f600',  # quotes, format characters, not ASCII
        "max_output_tokens": 100,
        "metadata": {"a": "%b"},
        "parallel_tool_calls": False,
        "reasoning": {"effort": "low", "output": None},  # a key named like a slot
        "temperature": 0.5,
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "tool_choice": "required",
        "tools": [{"type": "function", "name": "x", "parameters": {"type": "object"}}],
        "top_p": 1,
        "truncation": "auto",
        "user": "u%s",
    },
    {"metadata": None, "tools": [], "text": None, "instructions": ""},
]
USAGES = [Usage(12, 5, cached_tokens=4), Usage(estimated=True), Usage(10**9, 7)]


@pytest.mark.parametrize("echo", ECHOES)
@pytest.mark.parametrize("model", ["gpt-test", 'm"%s\u00e9'])
@pytest.mark.parametrize("status", ["in_progress", "completed", "incomplete", "failed"])
def test_the_response_template_renders_what_the_response_dict_dumps(
    echo: dict[str, Any], model: str, status: Status
) -> None:
    shell = ResponseShell(model, echo=echo, id="resp_0123456789abcdef", created_at=1_760_000_000)
    output = [message_item("msg_1", 'a "%s"'), {"type": "function_call", "arguments": "{}"}]
    error = {"code": "upstream_error", "message": "broke %d"} if status == "failed" else None
    for finish in ("stop", "length", "content_filter"):
        for usage in [None, *USAGES]:
            want = shell.response(status, output, usage, finish=finish, error=error)
            details = incomplete_json(finish) if status == "incomplete" else b"null"
            slots = (
                status.encode(),
                orjson.dumps(error),
                details,
                orjson.dumps(output),
                b"null" if usage is None else usage_json(usage),
            )
            assert shell.template() % slots == orjson.dumps(want)


def test_the_usage_and_incomplete_templates_render_their_dicts() -> None:
    for usage in USAGES:
        assert usage_json(usage) == orjson.dumps(usage_of(usage))
    for finish in (None, "stop", "length", "content_filter", "tool_calls"):
        assert incomplete_json(finish) == orjson.dumps(_incomplete(finish))


def test_the_message_template_renders_the_message_item() -> None:
    for text in ["", "Hello", 'Say "hi"\n\u00e9 %s %d \\ \x00 \u2028']:
        for status in ("completed", "incomplete", "in_progress"):
            said = orjson.dumps(text)
            rendered = message_json(b"msg_abc001", said, status.encode())
            assert rendered == orjson.dumps(message_item("msg_abc001", text, status))


def test_response_ids_are_uuid_sized_hex_and_differ() -> None:
    ids = {new_id("resp_") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"resp_[0-9a-f]{32}", i) for i in ids)
    assert ResponseShell("m").id != ResponseShell("m").id
