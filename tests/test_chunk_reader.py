"""The typed chunk reader: its fast path for plain text chunks must read exactly what the
general path reads (text, reasoning, tool calls, finish, usage) for the chunk shapes real
upstreams send; the pieces of one kind read from one upstream block leave as one event."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from proxy.core.events import Event, ReasoningDelta, TextDelta, ToolCallDelta
from proxy.providers.openai.parse import ChunkReader


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}], "usage": None}


def read_all(*payloads: dict[str, Any]) -> tuple[list[Event], ChunkReader]:
    """The payloads read as one upstream block."""
    reader = ChunkReader()
    for payload in payloads:
        reader.read(payload)
    return reader.take(), reader


def call(index: int, arguments: str, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    return {"index": index, "id": id, "function": {"name": name, "arguments": arguments}}


def test_plain_text_chunks_with_repeated_role_or_null_reasoning_read_as_text() -> None:
    events, reader = read_all(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"role": "assistant", "content": " there", "reasoning_content": None}),
        chunk({"content": "", "tool_calls": []}),
        chunk({}, finish="stop"),
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    )
    assert events == [TextDelta("Hello there")]
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
        TextDelta("ab"),
        ToolCallDelta(0, "call_1", "f", "{}"),
        TextDelta("c"),
    ]
    assert reader.finish == "length"


def test_each_block_is_taken_on_its_own() -> None:
    reader = ChunkReader()
    reader.read(chunk({"content": "Hello"}))
    assert reader.take() == [TextDelta("Hello")]  # sent now, not held for the next block
    reader.read(chunk({"content": " there"}))
    reader.read(chunk({"content": "!"}))
    assert reader.take() == [TextDelta(" there!")]
    assert reader.take() == []
    assert "".join(reader.said) == "Hello there!"


def test_runs_of_reasoning_text_and_one_calls_arguments_join_in_order() -> None:
    events, reader = read_all(
        chunk({"reasoning_content": "Let me "}),
        chunk({"reasoning": "think."}),
        chunk({"content": "Calling"}),
        chunk({"content": " now."}),
        chunk({"tool_calls": [call(0, "", "call_1", "lookup")]}),
        chunk({"tool_calls": [call(0, '{"city":')]}),
        chunk({"tool_calls": [call(0, ' "Paris"}')]}),
        chunk({"tool_calls": [call(1, '{"a"', "call_2", "other")]}),
        chunk({"tool_calls": [call(1, ": 1}")]}),
        chunk({}, finish="tool_calls"),
    )
    assert events == [
        ReasoningDelta("Let me think."),
        TextDelta("Calling now."),
        ToolCallDelta(0, "call_1", "lookup", '{"city": "Paris"}'),
        ToolCallDelta(1, "call_2", "other", '{"a": 1}'),
    ]
    assert "".join(reader.said) == 'Let me think.Calling now.lookup{"city": "Paris"}other{"a": 1}'


def test_argument_snapshots_are_not_joined() -> None:
    # some upstreams resend all the arguments so far: joined, they would repeat themselves
    events, _ = read_all(
        chunk({"tool_calls": [call(0, '{"a"', "call_1", "f")]}),
        chunk({"tool_calls": [call(0, '{"a": 1')]}),
        chunk({"tool_calls": [call(0, '{"a": 1}')]}),
    )
    assert events == [
        ToolCallDelta(0, "call_1", "f", '{"a"'),
        ToolCallDelta(0, None, None, '{"a": 1'),
        ToolCallDelta(0, None, None, '{"a": 1}'),
    ]


def test_an_error_chunk_is_kept_apart_from_the_answer() -> None:
    events, reader = read_all(chunk({"content": "Hi"}), {"error": {"message": "overloaded"}})
    assert reader.error == {"error": {"message": "overloaded"}}
    assert events == [TextDelta("Hi")]


def sse(*payloads: dict[str, Any], spaced: bool = False) -> bytes:
    """The payloads as an upstream writes them: compact (orjson), or spaced (Python's json)."""
    if spaced:
        return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)
    return b"".join(b"data: " + orjson.dumps(p) + b"\n\n" for p in payloads)


def fed(*blocks: bytes) -> tuple[list[Event], ChunkReader]:
    """The blocks fed one by one, their events taken after each."""
    reader = ChunkReader()
    events: list[Event] = []
    for block in blocks:
        assert not reader.feed(block)
        events += reader.take()
    return events, reader


TRICKY = ['say "hi"', "a\\b", "line\nbreak", "tab\t", "é accent", "中文", "emoji 🎉", "</script>", "\u2028"]


@pytest.mark.parametrize("spaced", [False, True])
def test_text_chunks_read_by_their_template_say_what_their_json_says(spaced: bool) -> None:
    words = ["Hello", " world", *TRICKY, "", " and", " done."]
    chunks = [chunk({"content": word}) | {"id": "c1", "created": 7, "model": "m"} for word in words]
    first, rest = sse(*chunks[:2], spaced=spaced), sse(*chunks[2:], spaced=spaced)
    events, reader = fed(first, rest)
    assert events == [TextDelta("Hello world"), TextDelta("".join(words[2:]))]
    assert "".join(reader.said) == "".join(words)


@pytest.mark.parametrize("spaced", [False, True])
def test_a_stream_read_in_one_block_says_what_its_chunks_say(spaced: bool) -> None:
    """A fast upstream's whole answer in one read: its text chunks are read as one run, and
    a run broken by anything else (an escape, reasoning that ends like a text chunk, a
    chunk of another model) still reads chunk by chunk."""
    base = {"id": "c1", "created": 7, "model": "m"}

    def stream(*middle: dict[str, Any]) -> bytes:
        head = [chunk({"role": "assistant", "content": ""}) | base, chunk({"content": "Hi"}) | base]
        tail = [chunk({}, finish="stop") | base, {"choices": [], "usage": {"prompt_tokens": 1}} | base]
        return sse(*head, *middle, *tail, spaced=spaced) + b"data: [DONE]\n\n"

    words = [chunk({"content": f" w{n}"}) | base for n in range(8)]
    reader = ChunkReader()
    assert reader.feed(stream(*words))
    assert reader.take() == [TextDelta("Hi" + "".join(f" w{n}" for n in range(8)))]
    assert reader.finish == "stop" and reader.usage is not None

    breaks = {
        "an escape": (chunk({"content": 'say "x"'}) | base, [TextDelta('Hi w0 w1 w2say "x" w4 w5 w6 w7')]),
        "reasoning": (
            chunk({"reasoning_content": "hm"}) | base,
            [TextDelta("Hi w0 w1 w2"), ReasoningDelta("hm"), TextDelta(" w4 w5 w6 w7")],
        ),
        "another choice": (chunk({"content": " x"}, index=1) | base, [TextDelta("Hi w0 w1 w2 w4 w5 w6 w7")]),
    }
    for name, (odd, expected) in breaks.items():
        reader = ChunkReader()
        assert reader.feed(stream(*words[:3], odd, *words[4:])), name
        assert reader.take() == expected, name
        assert "".join(reader.said) == "".join(
            e.text for e in expected if isinstance(e, TextDelta | ReasoningDelta)
        ), name


def test_chunks_that_differ_in_more_than_their_text_are_read_whole() -> None:
    base = {"id": "c1", "model": "m"}
    usage = {"prompt_tokens": 3, "completion_tokens": 1}
    events, reader = fed(
        sse(chunk({"content": "a"}) | base, chunk({"content": "b"}) | base),
        sse(
            chunk({"content": "c"}) | base | {"usage": usage},  # a running usage
            chunk({"content": "d"}, finish="stop") | base,
            chunk({"content": "e", "reasoning_content": "r"}) | base,
            chunk({"content": "f"}) | base | {"model": "other"},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9}} | base,
        ),
    )
    assert events == [TextDelta("ab"), TextDelta("cd"), ReasoningDelta("r"), TextDelta("ef")]
    assert reader.finish == "stop"
    assert reader.usage is not None and reader.usage.completion_tokens == 9


def test_done_ends_the_block_and_crlf_events_are_read_too() -> None:
    reader = ChunkReader()
    block = sse(chunk({"content": "a"}), chunk({"content": "b"})).replace(b"\n", b"\r\n")
    assert reader.feed(block + b"data: [DONE]\r\n\r\n" + sse(chunk({"content": "not read"})))
    assert reader.take() == [TextDelta("ab")]


def test_bytes_that_are_not_utf8_do_not_break_the_stream() -> None:
    events, _ = fed(sse(chunk({"content": "ok"}), chunk({"content": "x"})).replace(b'"x"', b'"\xff"'))
    assert events == [TextDelta("ok\ufffd")]
