"""`/v1/messages` end to end: the real `anthropic` SDK against the real gateway on a real
port, OpenAI-compatible accounts on a fake upstream (issue 10 §1, §2, §5, §6)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import ALICE, BOB, Running, base_config, served, until
from tests.fakes.openai_deltas import Answer, DeltasOpenAI, call
from tests.fakes.openai_upstream import error_step
from tests.test_anthropic_stream import checked, frames

ALIASES = {"claude-*haiku*": "gpt-4o-mini", "claude-*": "gpt-4o"}
HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"
READ = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}
KEYS = [f"sk-upstream-{i}-secretvalue" for i in (1, 2, 3)]


@pytest.fixture
async def fake() -> AsyncIterator[DeltasOpenAI]:
    async with served(DeltasOpenAI()) as upstream:
        yield upstream


@pytest.fixture
async def gw(start_gateway: Any, fake: DeltasOpenAI) -> Running:
    return await start_gateway(base_config(fake, model_aliases=ALIASES))  # type: ignore[no-any-return]


def sdk(gw: Running, key: str | None = ALICE, **kwargs: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0, **kwargs)


async def raw_stream(gw: Running, body: dict[str, Any]) -> tuple[aiohttp.ClientResponse, bytes]:
    headers = {"x-api-key": ALICE, "anthropic-version": "2023-06-01"}
    async with gw.http.post(f"{gw.url}/v1/messages", json={**body, "stream": True}, headers=headers) as resp:
        return resp, await resp.read()


def body(model: str = HAIKU, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}], **extra}


async def test_create_answers_through_an_openai_account_under_a_glob_alias(
    gw: Running, fake: DeltasOpenAI
) -> None:
    system = [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cch=abc;"},
        {"type": "text", "text": "You are a helpful agent.", "cache_control": {"type": "ephemeral"}},
    ]
    async with sdk(gw) as client:
        message = await client.messages.create(
            model=HAIKU,
            max_tokens=20000,
            system=system,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Hi"}],
            metadata={"user_id": "user-1"},
            extra_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
            extra_body={"context_management": {"edits": []}},
        )
    assert message.id.startswith("msg_")
    assert message.model == HAIKU
    assert message.content[0].type == "text" and message.content[0].text == "Hello from the fake upstream!"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    sent = fake.seen[-1]
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["max_tokens"] == 16384  # what most OpenAI-compatible models accept at most
    assert sent.body["messages"][0] == {"role": "system", "content": "You are a helpful agent."}
    assert "context_management" not in sent.body and "metadata" not in sent.body
    assert not any(h.lower() == "anthropic-beta" for h in sent.headers)


async def test_stream_helper_gives_text_and_the_final_message(gw: Running) -> None:
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    async with (
        sdk(gw) as client,
        client.messages.stream(model=SONNET, max_tokens=100, messages=messages) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello from the fake upstream!"
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7


async def test_bearer_auth_and_beta_query_are_accepted(gw: Running) -> None:
    async with sdk(gw, key=None, auth_token=ALICE) as client:
        message = await client.beta.messages.create(
            model=HAIKU,
            max_tokens=10,
            messages=[{"role": "user", "content": "Hi"}],
            betas=["interleaved-thinking-2025-05-14"],
            extra_query={"beta": "true"},
        )
    assert message.content[0].type == "text"


async def test_tool_use_round_trip_on_an_openai_account(gw: Running, fake: DeltasOpenAI) -> None:
    pieces = ['{"pa', 'th": ', '"RE', "ADME", '.md"}']
    fake.answer(
        Answer(
            [
                {"content": "Let me read it."},
                call(0, "call_1", "Read"),
                *(call(0, arguments=p) for p in pieces),
            ],
            finish="tool_calls",
        ),
        Answer([{"content": "It says hello."}]),
    )
    messages: list[Any] = [{"role": "user", "content": "What does the README say?"}]
    async with sdk(gw) as client:
        async with client.messages.stream(model=SONNET, max_tokens=200, messages=messages, tools=[READ]) as s:
            first = await s.get_final_message()
        assert first.stop_reason == "tool_use"
        text, use = first.content
        assert text.type == "text" and text.text == "Let me read it."
        assert use.type == "tool_use" and (use.id, use.name, use.input) == (
            "call_1",
            "Read",
            {"path": "README.md"},
        )
        messages += [
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "hello"},
                    {"type": "text", "text": "Summarise."},
                ],
            },
        ]
        second = await client.messages.create(model=SONNET, max_tokens=200, messages=messages, tools=[READ])
    assert second.content[0].type == "text" and second.content[0].text == "It says hello."
    assert second.stop_reason == "end_turn"
    history = fake.seen[-1].body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "user"]
    assert history[1]["tool_calls"][0]["id"] == "call_1"
    assert history[1]["tool_calls"][0]["function"] == {"name": "Read", "arguments": '{"path":"README.md"}'}
    assert history[2] == {"role": "tool", "tool_call_id": "call_1", "content": "hello"}


async def test_raw_stream_orders_two_parallel_calls_after_text(gw: Running, fake: DeltasOpenAI) -> None:
    fake.answer(
        Answer(
            [
                {"content": "Two reads."},
                {
                    "tool_calls": [
                        call(0, "call_a", "Read", '{"path": "a"}')["tool_calls"][0],
                        call(1, "call_b", "Read", '{"path": "b"}')["tool_calls"][0],
                    ]
                },
            ],
            finish="tool_calls",
            usage={
                "prompt_tokens": 50,
                "completion_tokens": 9,
                "total_tokens": 59,
                "prompt_tokens_details": {"cached_tokens": 30},
            },
        )
    )
    resp, raw = await raw_stream(gw, body(SONNET, tools=[READ]))
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    message = checked(frames(raw))
    assert [(b["type"], b.get("input")) for b in message["content"]] == [
        ("text", None),
        ("tool_use", {"path": "a"}),
        ("tool_use", {"path": "b"}),
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["input_tokens"] == 20 and message["usage"]["cache_read_input_tokens"] == 30


async def test_raw_stream_reasoning_then_text_as_thinking_blocks(gw: Running, fake: DeltasOpenAI) -> None:
    fake.answer(Answer([{"reasoning_content": "Think"}, {"reasoning_content": "ing."}, {"content": "Done."}]))
    thinking = {"type": "enabled", "budget_tokens": 2048}
    _, raw = await raw_stream(gw, body(thinking=thinking))
    message = checked(frames(raw))
    assert [(b["type"], b.get("thinking") or b.get("text")) for b in message["content"]] == [
        ("thinking", "Thinking."),
        ("text", "Done."),
    ]
    assert fake.seen[-1].body["reasoning_effort"] == "low"


async def test_count_tokens_is_answered_locally_without_touching_the_bucket(
    start_gateway: Any, fake: DeltasOpenAI
) -> None:
    config = base_config(fake, model_aliases=ALIASES)
    config["clients"][1]["rate_limit"] = {"rpm": 1, "burst": 1}
    gw = await start_gateway(config)
    async with sdk(gw, key=BOB) as client:
        plain = [{"role": "user", "content": "How many tokens is this?"}]
        counts = [
            (await client.messages.count_tokens(model=HAIKU, messages=plain)).input_tokens  # type: ignore[arg-type]
            for _ in range(5)
        ]
        bigger = await client.messages.count_tokens(
            model=HAIKU,
            messages=plain,
            system="Be brief. " * 40,
            tools=[READ],  # type: ignore[arg-type]
        )
        answer = await client.messages.create(model=HAIKU, max_tokens=10, messages=plain)  # type: ignore[arg-type]
    assert counts[0] > 0 and len(set(counts)) == 1
    assert bigger.input_tokens > counts[0]
    assert answer.content  # the bucket's one token was still there
    assert len(fake.seen) == 1


async def test_a_wrong_key_is_an_authentication_error_not_to_be_retried(gw: Running) -> None:
    async with sdk(gw, key="sk-wrong") as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": "Invalid API key: it matches no client of this gateway.",
        },
    }


async def test_an_unknown_model_is_not_found(gw: Running) -> None:
    async with sdk(gw) as client:
        with pytest.raises(anthropic.NotFoundError) as caught:
            await client.messages.create(
                model="gemini-9", max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
    assert "gemini-9" in str(caught.value)


async def test_a_missing_max_tokens_is_a_400_in_anthropics_envelope(gw: Running) -> None:
    resp = await gw.post("/v1/messages", {"model": HAIKU, "messages": [{"role": "user", "content": "x"}]})
    assert resp.status == 400
    assert await resp.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


async def test_failover_skips_a_rate_limited_account(gw: Running, fake: DeltasOpenAI) -> None:
    fake.script(KEYS[0], error_step(429, "rate_limit_exceeded", **{"Retry-After": "30"}))
    async with sdk(gw) as client:
        for _ in range(3):
            message = await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
            assert message.content[0].type == "text"
    assert (await gw.account("acct-1"))["state"] == "cooling"


async def test_every_account_rate_limited_is_overloaded_with_retry_after(
    gw: Running, fake: DeltasOpenAI
) -> None:
    for key in KEYS:
        fake.script(key, error_step(429, "rate_limit_exceeded", **{"Retry-After": "20"}))
    async with sdk(gw) as client:
        with pytest.raises(anthropic.OverloadedError) as caught:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.status_code == 529
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_a_dead_pool_is_not_retried(gw: Running, fake: DeltasOpenAI) -> None:
    for key in KEYS:
        fake.script(key, error_step(401, "invalid_api_key", "Incorrect API key provided."))
    retrying = anthropic.AsyncAnthropic(base_url=gw.url, api_key=ALICE, max_retries=2)
    async with retrying as client:  # the SDK retries a 529, unless x-should-retry says no
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in caught.value.response.headers
    assert "disabled or invalid" in caught.value.message
    assert len(fake.seen) == len(KEYS)  # each account was tried once, then no retry came


async def test_every_account_out_of_quota_is_a_rate_limit_error(gw: Running, fake: DeltasOpenAI) -> None:
    for key in KEYS:
        fake.script(key, error_step(429, "insufficient_quota", "You exceeded your current quota."))
    async with sdk(gw) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(caught.value.response.headers["retry-after"]) >= 1


async def test_a_client_over_its_bucket_gets_anthropics_429(start_gateway: Any, fake: DeltasOpenAI) -> None:
    config = base_config(fake, model_aliases=ALIASES)
    config["clients"][1]["rate_limit"] = {"rpm": 1, "burst": 1}
    gw = await start_gateway(config)
    async with sdk(gw, key=BOB) as client:
        first = await client.messages.with_raw_response.create(
            model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
        assert first.headers["anthropic-ratelimit-requests-limit"] == "1"
        assert first.headers["anthropic-ratelimit-requests-remaining"] == "0"
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert len(fake.seen) == 1


async def test_an_upstream_context_error_keeps_claude_codes_wording(gw: Running, fake: DeltasOpenAI) -> None:
    message = (
        "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        "130532 tokens. Please reduce the length of the messages."
    )
    fake.script(KEYS[0], error_step(400, "context_length_exceeded", message))
    async with sdk(gw) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 130532 tokens > 128000 maximum",
        },
    }


async def test_a_stream_that_breaks_after_the_first_byte_ends_with_an_error_event(
    gw: Running, fake: DeltasOpenAI
) -> None:
    fake.answer(Answer([{"content": "Hel"}, {"content": "lo"}, {"content": " world"}], break_after=2))
    resp, raw = await raw_stream(gw, body())
    assert resp.status == 200
    stream = frames(raw)
    names = [event for event, _ in stream]
    assert names[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert names[-1] == "error"
    assert stream[-1][1]["error"]["type"] == "api_error"
    assert "message_stop" not in names


async def test_a_client_that_hangs_up_frees_the_lease_and_cancels_the_upstream(
    gw: Running, fake: DeltasOpenAI
) -> None:
    hold = asyncio.Event()
    fake.answer(Answer([{"content": "first"}, {"content": " never"}], hold=hold, pause_after=1))
    headers = {"x-api-key": ALICE}
    resp = await gw.http.post(f"{gw.url}/v1/messages", json=body(stream=True), headers=headers)
    seen = b""
    while b"content_block_delta" not in seen:
        chunk = await resp.content.readany()
        assert chunk, f"the stream ended before its first delta: {seen!r}"
        seen += chunk
    await until(lambda: fake.waiting == 1)
    resp.close()
    await until(lambda: fake.cancelled == 1)

    async def leases_free() -> bool:
        accounts = [await gw.account(f"acct-{i}") for i in (1, 2, 3)]
        return all(a["in_flight"] == 0 for a in accounts)

    await until(leases_free)
    hold.set()


async def test_tools_need_a_tool_capable_account(start_gateway: Any, fake: DeltasOpenAI) -> None:
    config = base_config(fake, model_aliases=ALIASES, pool={"unsupported_tools": "drop"})
    config["accounts"].append({"id": "demo-1", "provider": "demo", "models": ["demo-model"]})
    gw = await start_gateway(config)
    async with sdk(gw) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(
                model="demo-model", max_tokens=10, messages=[{"role": "user", "content": "x"}], tools=[READ]
            )
        plain = await client.messages.create(
            model="demo-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert "demo-model" in caught.value.message and "tools" in caught.value.message
    assert plain.content


async def test_images_reach_the_upstream_as_chat_image_parts(gw: Running, fake: DeltasOpenAI) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    async with sdk(gw) as client:
        await client.messages.create(
            model=HAIKU,
            max_tokens=10,
            messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is it?"}]}],  # type: ignore[list-item]
        )
    parts = fake.seen[-1].body["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


async def test_models_answer_in_anthropics_shape_when_asked_by_an_anthropic_client(gw: Running) -> None:
    async with sdk(gw) as client:
        page = await client.models.list()
        one = await client.models.retrieve("gpt-4o-mini")
    ids = [m.id for m in page.data]
    assert "gpt-4o-mini" in ids and not any("*" in i for i in ids)
    assert page.data[0].type == "model"
    assert one.id == "gpt-4o-mini" and one.display_name == "gpt-4o-mini"
    openai_shape = await gw.http.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {ALICE}"})
    assert (await openai_shape.json())["object"] == "list"


async def test_a_missing_key_names_both_ways_to_send_one(gw: Running) -> None:
    async with gw.http.post(f"{gw.url}/v1/messages?beta=true", json=body()) as resp:
        assert resp.status == 401
        assert resp.headers["x-should-retry"] == "false"
        error = (await resp.json())["error"]
    assert error["type"] == "authentication_error"
    assert "x-api-key" in error["message"] and "Bearer" in error["message"]
