"""The OpenAI door's encoder and reply: what the SDK reads from the gateway's own chunks."""

from __future__ import annotations

import orjson
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from proxy.core.events import Finish, Raw, ReasoningDelta, Reply, TextDelta, ToolCall, ToolCallDelta, Usage
from proxy.doors.openai.encoder import DONE, ChatStreamEncoder
from proxy.doors.openai.reply import completion_body
from proxy.errors import upstream_error


def chunks(raw: bytes) -> list[ChatCompletionChunk]:
    assert raw.endswith(DONE)
    events = [e for e in raw.split(b"\n\n") if e and e != DONE.strip()]
    return [ChatCompletionChunk.model_validate(orjson.loads(e.removeprefix(b"data: "))) for e in events]


def test_typed_events_become_the_chunk_sequence_the_sdk_expects():
    encoder = ChatStreamEncoder("gpt-4o", include_usage=True)
    events = [
        ReasoningDelta("thinking"),
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallDelta(0, id="call_1", name="lookup", arguments='{"q":'),
        ToolCallDelta(0, arguments='"x"}'),
        Finish("tool_calls"),
        Usage(11, 7),
    ]
    raw = encoder.start() + b"".join(encoder.encode(e) for e in events) + encoder.end()
    got = chunks(raw)
    assert len({c.id for c in got}) == 1 and len({c.created for c in got}) == 1
    assert got[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in got[1:-1])
    assert (
        orjson.loads(raw.split(b"\n\n")[0].removeprefix(b"data: "))["choices"][0]["delta"][
            "reasoning_content"
        ]
        == "thinking"
    )
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "Hello"
    calls = [t for c in got if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "call_1" and calls[0].function.name == "lookup"
    assert "".join(t.function.arguments for t in calls) == '{"q":"x"}'
    assert got[-2].choices[0].finish_reason == "tool_calls"
    assert got[-1].choices == [] and got[-1].usage is not None and got[-1].usage.total_tokens == 18


def test_usage_chunk_only_when_the_client_asked():
    encoder = ChatStreamEncoder("gpt-4o", include_usage=False)
    raw = (
        encoder.encode(TextDelta("hi"))
        + encoder.encode(Finish())
        + encoder.encode(Usage(1, 1))
        + encoder.end()
    )
    assert all(c.choices for c in chunks(raw)) and b'"usage"' not in raw


def test_relayed_blocks_leave_unchanged_and_their_usage_is_not_repeated():
    block = b'data: {"id":"up","object":"chat.completion.chunk","created":5,"model":"m","choices":[]}\n\n'
    encoder = ChatStreamEncoder("gpt-4o", include_usage=True)
    raw = encoder.encode(Raw(block)) + encoder.encode(Usage(3, 4)) + encoder.end()
    assert raw == block + DONE


def test_a_broken_stream_ends_with_an_error_event_then_done():
    encoder = ChatStreamEncoder("gpt-4o", include_usage=False)
    tail = encoder.error(upstream_error("The upstream failed mid-stream: reset."))
    event, done = tail.split(b"\n\n", 1)
    error = orjson.loads(event.removeprefix(b"data: "))["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "upstream_error"
    assert done == DONE


def test_a_reply_renders_as_chat_completion_with_tool_calls():
    reply = Reply(text="", tool_calls=[ToolCall("call_9", "lookup", "{}")], finish="tool_calls")
    body = ChatCompletion.model_validate(orjson.loads(completion_body("gpt-4o", reply, Usage(2, 3))))
    message = body.choices[0].message
    assert body.choices[0].finish_reason == "tool_calls" and message.content is None
    assert message.tool_calls is not None and message.tool_calls[0].function.name == "lookup"
    assert body.usage is not None and body.usage.total_tokens == 5


def test_an_upstream_body_is_returned_as_it_came():
    raw = b'{"id":"chatcmpl-up","object":"chat.completion"}'
    assert completion_body("gpt-4o", Reply(raw=raw), Usage()) is raw
