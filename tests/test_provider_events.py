"""The OpenAI-compatible and demo providers, driven directly: the events each door builds on.

With `passthrough` (the OpenAI door) an OpenAI upstream's own SSE events come through
as `Raw` bytes; otherwise every door gets typed deltas, one `Finish`, then one `Usage`.
"""

from __future__ import annotations

import asyncio
import email.utils
from typing import Any

import orjson
import pytest

from proxy.core.events import (
    Finish,
    Raw,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from proxy.outcome import OutcomeKind, UpstreamError
from proxy.providers.openai.parse import ChunkReader
from tests.conftest import chat
from tests.fakes.openai_upstream import FakeOpenAI, Step, error_step
from tests.provider_kit import events_of, provider_of, request

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def openai_account(upstream: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "id": "acct-1",
        "provider": "openai",
        "base_url": upstream.base_url,
        "api_key": "sk-upstream-1-secretvalue",
        "models": ["gpt-4o-mini"],
        **extra,
    }


def sse_payloads(data: bytes) -> list[Any]:
    return [orjson.loads(e[6:]) for e in data.split(b"\n\n") if e.startswith(b"data: {")]


async def test_passthrough_stream_relays_the_upstream_events_without_done_or_unasked_usage(upstream):
    async with provider_of(openai_account(upstream)) as provider:
        events = await events_of(provider, request(chat(stream=True), passthrough=True))
    *raw, usage = events
    assert raw and all(isinstance(e, Raw) for e in raw)
    data = b"".join(e.data for e in raw if isinstance(e, Raw))
    assert b"[DONE]" not in data
    chunks = sse_payloads(data)
    assert all(c["choices"] for c in chunks)  # the usage-only chunk the gateway asked for is gone
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == (
        "Hello from the fake upstream!"
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage == Usage(11, 7)
    assert upstream.seen[0].body["stream_options"] == {"include_usage": True}


async def test_passthrough_stream_keeps_the_usage_chunk_when_the_client_asked(upstream):
    body = chat(stream=True, stream_options={"include_usage": True})
    async with provider_of(openai_account(upstream)) as provider:
        events = await events_of(provider, request(body, passthrough=True))
    data = b"".join(e.data for e in events if isinstance(e, Raw))
    assert sse_payloads(data)[-1]["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
    }
    assert [e for e in events if isinstance(e, Usage)] == [Usage(11, 7)]
    assert isinstance(events[-1], Usage)


async def test_typed_stream_yields_text_tool_call_finish_and_usage(upstream):
    async with provider_of(openai_account(upstream)) as provider:
        events = await events_of(provider, request(chat(stream=True, tools=TOOLS)))
    text = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(e.text for e in text) == "Hello from the fake upstream!"
    assert [e for e in events if isinstance(e, ToolCallDelta)] == [ToolCallDelta(0, "call_1", "lookup", "{}")]
    assert events[-2:] == [Finish("stop"), Usage(11, 7)]
    assert not any(isinstance(e, Raw) for e in events)


async def test_typed_stream_yields_what_arrived_before_the_upstream_sends_more(upstream):
    # the upstream sends its first word, then holds the rest until the test says so
    rest = asyncio.Event()
    upstream.default = Step(text="first second third", hold=rest, hold_after=1)
    async with provider_of(openai_account(upstream)) as provider:
        stream = provider.stream(request(chat(stream=True)))
        async with asyncio.timeout(15):
            first = await anext(stream)
        assert first == TextDelta("first") and not first.ends  # more may follow: the relay sends it now
        assert upstream.held == 1
        rest.set()
        events = [event async for event in stream]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == " second third"
    assert events[-2:] == [Finish("stop"), Usage(11, 7)]


@pytest.mark.parametrize("passthrough", [True, False])
async def test_complete_parses_the_answer_and_keeps_the_body_only_for_passthrough(upstream, passthrough):
    async with provider_of(openai_account(upstream)) as provider:
        reply = await provider.complete(request(chat(), passthrough=passthrough))
    assert reply.text == "Hello from the fake upstream!"
    assert reply.finish == "stop"
    assert reply.usage == Usage(11, 7)
    if passthrough:
        assert reply.raw is not None
        assert orjson.loads(reply.raw)["system_fingerprint"] == "fp_fake"  # the upstream's own body
    else:
        assert reply.raw is None


async def test_a_stream_without_content_fails_before_anything_is_yielded(upstream):
    upstream.script("sk-upstream-1-secretvalue", Step("empty"), Step("empty"))
    async with provider_of(openai_account(upstream)) as provider:
        for passthrough in (True, False):
            stream = provider.stream(request(chat(stream=True), passthrough=passthrough))
            with pytest.raises(UpstreamError) as caught:
                await anext(stream)
            await stream.aclose()
            assert caught.value.outcome.kind is OutcomeKind.TRANSIENT


async def test_retry_after_as_an_http_date_sets_the_rest(upstream):
    async with provider_of(openai_account(upstream)) as provider:
        later = email.utils.formatdate(provider.ctx.clock.now() + 120, usegmt=True)
        upstream.script(
            "sk-upstream-1-secretvalue", error_step(429, "rate_limit_exceeded", **{"Retry-After": later})
        )
        with pytest.raises(UpstreamError) as caught:
            await provider.complete(request(chat()))
    assert caught.value.outcome.kind is OutcomeKind.RATE_LIMITED
    assert caught.value.outcome.retry_after == pytest.approx(120, abs=1)


async def test_ratelimit_reset_header_sets_the_rest_when_retry_after_is_missing(upstream):
    step = error_step(429, "rate_limit_exceeded", **{"x-ratelimit-reset-requests": "1m30s"})
    upstream.script("sk-upstream-1-secretvalue", step)
    async with provider_of(openai_account(upstream)) as provider:
        with pytest.raises(UpstreamError) as caught:
            await anext(provider.stream(request(chat(stream=True), passthrough=True)))
    assert caught.value.outcome.retry_after == 90


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        (error_step(401, "invalid_api_key"), OutcomeKind.AUTH_FAILED),
        (
            error_step(429, "insufficient_quota", "You exceeded your current quota"),
            OutcomeKind.QUOTA_EXHAUSTED,
        ),
        (error_step(403, None, "Your access was terminated"), OutcomeKind.AUTH_FAILED),
        (error_step(400, "context_length_exceeded"), OutcomeKind.CLIENT_ERROR),
        (error_step(503, None), OutcomeKind.TRANSIENT),
    ],
)
async def test_failures_are_classified_and_the_reason_never_quotes_the_message(upstream, step, kind):
    step.body["error"]["message"] += " sk-upstream-1-secretvalue"  # type: ignore[index]
    upstream.script("sk-upstream-1-secretvalue", step)
    async with provider_of(openai_account(upstream)) as provider:
        with pytest.raises(UpstreamError) as caught:
            await provider.complete(request(chat()))
    assert caught.value.outcome.kind is kind
    assert "secretvalue" not in caught.value.outcome.reason
    if kind is OutcomeKind.CLIENT_ERROR:
        assert caught.value.status == 400
        assert (
            caught.value.body is not None and caught.value.body["error"]["code"] == "context_length_exceeded"
        )


def test_chunk_reader_reads_both_reasoning_fields_and_tool_call_pieces():
    reader = ChunkReader()
    payloads = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "Think"}}]},
        {"choices": [{"index": 0, "delta": {"reasoning": "ing"}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}}
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 5,
                "completion_tokens": 3,
                "prompt_tokens_details": {"cached_tokens": 2},
            },
        },
    ]
    events = []
    for payload in payloads:  # each chunk in a block of its own
        reader.read(payload)
        events += reader.take()
    assert events == [
        ReasoningDelta("Think"),
        ReasoningDelta("ing"),
        TextDelta("Hi"),
        ToolCallDelta(0, "c1", "f", ""),
        ToolCallDelta(0, None, None, '{"a":'),
    ]
    assert reader.finish == "tool_calls"
    assert reader.usage == Usage(5, 3, cached_tokens=2)


async def test_demo_stream_and_complete_tell_the_same_answer():
    account = {"id": "demo-1", "provider": "demo"}
    async with provider_of(account) as provider:
        events = await events_of(provider, request(chat("demo", "Hello demo", stream=True)))
        reply = await provider.complete(request(chat("demo", "Hello demo")))
    text = [e for e in events if isinstance(e, TextDelta)]
    assert len(text) > 1 and "".join(e.text for e in text) == reply.text
    assert 'You said: "Hello demo"' in reply.text
    assert events[-2] == Finish("stop")
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.estimated and usage == reply.usage
    assert reply.tool_calls == [] and reply.reasoning == ""


def test_reply_tool_calls_are_read_from_a_completion_body():
    from proxy.providers.openai.parse import reply_of

    body = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_9",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q":1}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    reply = reply_of(body)
    assert reply.tool_calls == [ToolCall("call_9", "lookup", '{"q":1}')]
    assert reply.finish == "tool_calls" and reply.text == "" and reply.usage is None


async def test_without_a_models_list_the_account_serves_what_the_upstream_lists(upstream):
    upstream.models = ["gpt-4.1", "o3-mini"]
    account = {**openai_account(upstream)}
    del account["models"]
    async with provider_of(account) as provider:
        assert provider.listed_models() == ("gpt-4.1", "o3-mini")
        assert provider.serves("o3-mini") and not provider.serves("gpt-4o-mini")
