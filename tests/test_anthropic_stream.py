"""Event orders of the Anthropic stream encoder (frontdoors.md §1.5, §2 pitfalls).

`frames` and `checked` are also used by the end-to-end tests: they read a raw stream
the way the SDKs do and assert the rules a strict client relies on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from proxy.core.errors import ErrorKind, GatewayError
from proxy.core.events import Event, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from proxy.doors.anthropic.stream import MessagesStream
from proxy.doors.anthropic.tools import ToolNames

Frame = tuple[str, dict[str, Any]]


def frames(raw: bytes) -> list[Frame]:
    """(event name, data) per SSE frame; comment lines (pings) are skipped."""
    out = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        event = next(line[7:] for line in lines if line.startswith("event: "))
        data = "".join(line[6:] for line in lines if line.startswith("data: "))
        out.append((event, orjson.loads(data)))
    return out


def checked(stream: list[Frame]) -> dict[str, Any]:
    """Assert Anthropic's order rules; return the message a client would assemble."""
    for event, data in stream:
        assert data["type"] == event, f"event line {event!r} but data type {data['type']!r}"
    names = [event for event, _ in stream]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    message = dict(stream[0][1]["message"])
    assert message["id"].startswith("msg_")
    assert message["usage"]["input_tokens"] > 0
    content: list[dict[str, Any]] = []
    open_index: int | None = None
    arguments: dict[int, str] = {}
    for event, data in stream[1:-2]:
        if event == "content_block_start":
            assert open_index is None, "a block started while another was open"
            assert data["index"] == len(content), "indices must run 0, 1, 2…"
            open_index = data["index"]
            content.append(dict(data["content_block"]))
        elif event == "content_block_delta":
            assert data["index"] == open_index, "a delta for a block that is not open"
            block, delta = content[data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "input_json_delta":
                arguments[data["index"]] = arguments.get(data["index"], "") + delta["partial_json"]
        elif event == "content_block_stop":
            assert data["index"] == open_index, "a stop for a block that is not open"
            open_index = None
        else:
            assert event == "ping", f"unexpected {event} inside the message"
    assert open_index is None, "a block was never stopped"
    for index, text in arguments.items():
        content[index]["input"] = orjson.loads(text)
    delta = stream[-2][1]
    message.update(content=content, stop_reason=delta["delta"]["stop_reason"], usage=delta["usage"])
    has_tool = any(block["type"] == "tool_use" for block in content)
    assert (message["stop_reason"] == "tool_use") == has_tool
    return message


def encode(events: Iterable[Event], *, thinking: bool = False, names: ToolNames | None = None) -> list[Frame]:
    encoder = MessagesStream("claude-sonnet-4-5", 42, names or ToolNames(), thinking=thinking)
    raw = encoder.start() + b"".join(encoder.encode(e) for e in events) + encoder.end()
    return frames(raw)


USAGE = Usage(prompt_tokens=100, completion_tokens=20)


def test_text_stream_has_anthropic_order_and_final_usage() -> None:
    stream = encode([TextDelta("Hel"), TextDelta(""), TextDelta("lo"), Finish("stop"), USAGE])
    assert [e for e, _ in stream] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    message = checked(stream)
    assert stream[0][1]["message"]["usage"]["input_tokens"] == 42
    assert message["content"] == [{"type": "text", "text": "Hello"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_a_tool_call_split_across_many_chunks_arrives_whole() -> None:
    pieces = ['{"pa', 'th"', ': "a', ".py", '"}']
    events: list[Event] = [ToolCallDelta(0, id="call_1", name="Read")]
    events += [ToolCallDelta(0, arguments=p) for p in pieces]
    message = checked(encode([*events, Finish("tool_calls"), USAGE]))
    assert message["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "Read", "input": {"path": "a.py"}}
    ]
    assert message["stop_reason"] == "tool_use"


def test_text_then_two_tool_calls_get_indices_0_1_2_each_stopped_before_the_next() -> None:
    events = [
        TextDelta("Let me look."),
        ToolCallDelta(0, id="call_a", name="Read", arguments='{"path":'),
        ToolCallDelta(0, arguments=' "a.py"}'),
        ToolCallDelta(1, id="call_b", name="Read", arguments='{"path": "b.py"}'),
        Finish("stop"),  # an upstream that says stop beside its calls still gets tool_use
        USAGE,
    ]
    message = checked(encode(events))
    assert [b["type"] for b in message["content"]] == ["text", "tool_use", "tool_use"]
    assert [b.get("input") for b in message["content"][1:]] == [{"path": "a.py"}, {"path": "b.py"}]
    assert message["stop_reason"] == "tool_use"


def test_two_parallel_calls_in_one_chunk_and_cumulative_snapshots() -> None:
    events = [
        ToolCallDelta(0, id="call_a", name="Glob", arguments='{"pattern": "*.py"}'),
        ToolCallDelta(1, id="call_b", name="Grep", arguments='{"q'),
        ToolCallDelta(1, arguments='{"q": "x"'),  # a snapshot of everything so far
        ToolCallDelta(1, arguments='{"q": "x"}'),
        Finish("tool_calls"),
        USAGE,
    ]
    message = checked(encode(events))
    assert [(b["id"], b["input"]) for b in message["content"]] == [
        ("call_a", {"pattern": "*.py"}),
        ("call_b", {"q": "x"}),
    ]


def test_a_new_id_at_a_known_index_is_a_new_call() -> None:
    events = [
        ToolCallDelta(0, id="call_a", name="Read", arguments="{}"),
        ToolCallDelta(0, id="call_b", name="Bash", arguments='{"cmd": "ls"}'),
        Finish("tool_calls"),
    ]
    message = checked(encode(events))
    assert [(b["name"], b["input"]) for b in message["content"]] == [("Read", {}), ("Bash", {"cmd": "ls"})]


def test_reasoning_then_text_gives_a_thinking_block_first() -> None:
    events = [ReasoningDelta("Think"), ReasoningDelta("ing."), TextDelta("Answer."), Finish("stop"), USAGE]
    message = checked(encode(events, thinking=True))
    assert message["content"] == [
        {"type": "thinking", "thinking": "Thinking.", "signature": ""},
        {"type": "text", "text": "Answer."},
    ]


def test_reasoning_is_not_shown_to_a_client_that_did_not_ask_for_thinking() -> None:
    message = checked(encode([ReasoningDelta("hmm"), TextDelta("Hi"), Finish("stop"), USAGE]))
    assert message["content"] == [{"type": "text", "text": "Hi"}]


def test_finish_reasons_map_to_stop_reasons() -> None:
    assert checked(encode([TextDelta("a"), Finish("length"), USAGE]))["stop_reason"] == "max_tokens"
    assert checked(encode([TextDelta("a"), Finish("content_filter"), USAGE]))["stop_reason"] == "refusal"
    # tool_calls said, but no call sent: a tool_use stop would stall the agent
    assert checked(encode([TextDelta("a"), Finish("tool_calls"), USAGE]))["stop_reason"] == "end_turn"


def test_cached_prompt_tokens_are_reported_apart_from_input_tokens() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=5, cached_tokens=800)
    assert checked(encode([TextDelta("a"), Finish("stop"), usage]))["usage"] == {
        "input_tokens": 200,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
    }


def test_a_stream_without_finish_or_usage_still_closes_properly() -> None:
    message = checked(encode([TextDelta("x" * 40)]))
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["output_tokens"] == 10
    assert message["usage"]["input_tokens"] == 42


def test_long_tool_names_come_back_as_the_client_sent_them() -> None:
    names = ToolNames()
    long = "mcp__server__" + "t" * 70
    short = names.upstream(long)
    message = checked(encode([ToolCallDelta(0, id="c", name=short, arguments="{}")], names=names))
    assert message["content"][0]["name"] == long


def test_tool_ids_with_characters_anthropic_rejects_are_cleaned() -> None:
    message = checked(encode([ToolCallDelta(0, id="functions.Read:0", name="Read", arguments="{}")]))
    assert message["content"][0]["id"] == "functions_Read_0"


def test_an_error_after_the_first_byte_is_an_error_event() -> None:
    encoder = MessagesStream("m", 10, ToolNames(), thinking=False)
    raw = encoder.start() + encoder.encode(TextDelta("partial"))
    raw += encoder.error(GatewayError(502, ErrorKind.UPSTREAM, "The upstream failed mid-stream."))
    stream = frames(raw)
    assert stream[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "The upstream failed mid-stream."}},
    )
