"""The typed chunk reader: its fast path for plain text chunks must read exactly what the
general path reads (text, reasoning, tool calls, finish, usage) for the chunk shapes real
upstreams send."""

from __future__ import annotations

from typing import Any

from proxy.core.events import Event, ReasoningDelta, TextDelta, ToolCallDelta
from proxy.providers.openai.parse import ChunkReader


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}], "usage": None}


def read_all(*payloads: dict[str, Any]) -> tuple[list[Event], ChunkReader]:
    reader = ChunkReader()
    return [e for p in payloads for e in reader.read(p)], reader


def test_plain_text_chunks_with_repeated_role_or_null_reasoning_read_as_text() -> None:
    events, reader = read_all(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"role": "assistant", "content": " there", "reasoning_content": None}),
        chunk({"content": "", "tool_calls": []}),
        chunk({}, finish="stop"),
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    )
    assert events == [TextDelta("Hello"), TextDelta(" there")]
    assert reader.finish == "stop"
    assert reader.usage is not None and reader.usage.completion_tokens == 2
    assert "".join(reader.said) == "Hello there"


def test_chunks_that_carry_more_than_text_still_read_whole() -> None:
    call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
    events, reader = read_all(
        chunk({"content": "a", "reasoning_content": "think"}),
        chunk({"content": "b", "tool_calls": [call]}),
        chunk({"content": "c"}, finish="length"),
        chunk({"content": "not ours"}, index=1),
    )
    assert events == [
        ReasoningDelta("think"),
        TextDelta("a"),
        TextDelta("b"),
        ToolCallDelta(0, "call_1", "f", "{}"),
        TextDelta("c"),
    ]
    assert reader.finish == "length"
