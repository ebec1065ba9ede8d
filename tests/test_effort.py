"""Agents' reasoning effort on upstream models that refuse `reasoning_effort`: the call is
sent again once without it on the same account, and later calls leave it out up front.

Claude Code (the `anthropic` SDK) and Codex (the `openai` SDK's Responses API) ask for
effort on every call; the fake upstream's NO_EFFORT_MODEL answers it with OpenAI's real 400.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import anthropic
import openai
import orjson
import pytest

from proxy.providers.openai.effort import MAX_MODELS, EffortMemory, refused_field
from proxy.request import chat_request
from tests.conftest import ALICE, Running, base_config
from tests.fakes.openai_upstream import NO_EFFORT_MODEL, FakeOpenAI, error_step

MODES = pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
TEXT = "Hello from the fake upstream!"


def config(upstream: FakeOpenAI) -> dict[str, Any]:
    raw = base_config(upstream, model_aliases={"claude-*": NO_EFFORT_MODEL})
    for account in raw["accounts"]:
        account["models"] = [*account["models"], NO_EFFORT_MODEL]
    return raw


def efforts(upstream: FakeOpenAI) -> list[str | None]:
    return [seen.body.get("reasoning_effort") for seen in upstream.seen]


def assert_each_account_learned_once(upstream: FakeOpenAI, effort: str) -> None:
    """Each refusal was followed by the same call on the same account without the field,
    and an account that learned never sent the field again (calls are sequential here)."""
    seen = [(s.key, s.body.get("reasoning_effort")) for s in upstream.seen]
    for (key, sent), (next_key, resent) in pairwise(seen):
        if sent is not None:
            assert (next_key, resent) == (key, None)  # a retry, not a failover
    keys = {key for key, _ in seen}
    for key in keys:
        assert [e for k, e in seen if k == key][:2] == [effort, None]
    assert [e for _, e in seen].count(effort) == len(keys)


async def assert_all_active(gw: Running) -> None:
    _, body = await gw.admin("GET", "/admin/accounts")
    assert {a["id"]: a["state"] for a in body["data"]} == {f"acct-{i}": "active" for i in (1, 2, 3)}


async def claude_code(gw: Running, *, stream: bool) -> str:
    """One Claude Code-shaped call: adaptive thinking with effort medium."""
    client = anthropic.AsyncAnthropic(base_url=gw.url, api_key=ALICE, max_retries=0)
    kwargs: dict[str, Any] = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}],
        "extra_body": {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}},
    }
    try:
        if stream:
            async with client.messages.stream(**kwargs) as events:
                message = await events.get_final_message()
        else:
            message = await client.messages.create(**kwargs)
    finally:
        await client.close()
    return "".join(block.text for block in message.content if block.type == "text")


@MODES
async def test_claude_code_effort_is_dropped_for_a_model_that_refuses_it(
    upstream: FakeOpenAI, start_gateway: Any, stream: bool
) -> None:
    gw = await start_gateway(config(upstream))
    for _ in range(4):  # three accounts: one of them answers twice
        assert await claude_code(gw, stream=stream) == TEXT
    assert_each_account_learned_once(upstream, "medium")
    assert len(upstream.seen) < 8  # remembered: a later call on a learned account took one request
    await assert_all_active(gw)


async def test_claude_code_effort_reaches_a_model_that_accepts_it(
    upstream: FakeOpenAI, start_gateway: Any
) -> None:
    gw = await start_gateway(base_config(upstream, model_aliases={"claude-*": "gpt-4o"}))
    assert await claude_code(gw, stream=True) == TEXT
    assert efforts(upstream) == ["medium"]


@MODES
async def test_codex_effort_is_dropped_for_a_model_that_refuses_it(
    upstream: FakeOpenAI, start_gateway: Any, stream: bool
) -> None:
    gw = await start_gateway(config(upstream))
    client = gw.client()

    async def codex() -> str:
        kwargs: dict[str, Any] = {"model": NO_EFFORT_MODEL, "input": "Hi", "reasoning": {"effort": "medium"}}
        if stream:
            async with client.responses.stream(**kwargs) as events:
                return (await events.get_final_response()).output_text
        return (await client.responses.create(**kwargs)).output_text

    for _ in range(4):
        assert await codex() == TEXT
    assert_each_account_learned_once(upstream, "medium")
    assert len(upstream.seen) < 8
    await assert_all_active(gw)


@MODES
async def test_the_openai_door_relays_the_answer_sent_without_effort(
    upstream: FakeOpenAI, start_gateway: Any, stream: bool
) -> None:
    gw = await start_gateway(config(upstream))
    client = gw.client()
    body: dict[str, Any] = {
        "model": NO_EFFORT_MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "reasoning_effort": "low",
    }
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**body, stream=True)]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = (await client.chat.completions.create(**body)).choices[0].message.content or ""
    assert text == TEXT
    assert efforts(upstream) == ["low", None]
    await assert_all_active(gw)


async def test_a_retry_that_fails_is_an_ordinary_failure_and_fails_over(
    upstream: FakeOpenAI, start_gateway: Any
) -> None:
    gw = await start_gateway(config(upstream))
    keys = [f"sk-upstream-{i}-secretvalue" for i in (1, 2, 3)]
    for key in keys:  # the refusal takes no scripted step: each retry meets the 429
        upstream.script(key, error_step(429, "rate_limit_exceeded", "Rate limit reached"))
    with pytest.raises(openai.InternalServerError, match="cooling"):
        await gw.client().responses.create(model=NO_EFFORT_MODEL, input="Hi", reasoning={"effort": "low"})
    seen = [(s.key, s.body.get("reasoning_effort")) for s in upstream.seen]
    assert seen[0::2] == [(key, "low") for key, _ in seen[1::2]]  # each account: refused, retried
    assert sorted(key for key, _ in seen[1::2]) == keys  # each retry's 429 moved the pool on
    _, body = await gw.admin("GET", "/admin/accounts")
    assert all(a["state"] != "active" for a in body["data"])


def request(model: str = "m", **fields: Any) -> Any:
    return chat_request({"model": model, "messages": [{"role": "user", "content": "Hi"}], **fields}, {})


def error(message: str, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    )


@pytest.mark.parametrize(
    ("status", "data", "field"),
    [
        (400, error("Unrecognized request argument supplied: reasoning_effort"), "reasoning_effort"),
        (
            400,
            error(
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
                "unsupported_parameter",
            ),
            "reasoning_effort",
        ),
        (400, error("Unrecognized request argument supplied: reasoning"), "reasoning"),
        (
            400,
            b'{"detail":[{"type":"extra_forbidden","loc":["body","reasoning_effort"],'
            b'"msg":"Extra inputs are not permitted"}]}',
            "reasoning_effort",
        ),
        # A value the model does not take is the client's to fix, not the field's absence.
        (
            400,
            error(
                "Unsupported value: 'reasoning_effort' does not support 'minimal' with this model.",
                "reasoning_effort",
                "unsupported_value",
            ),
            None,
        ),
        (400, error("Unrecognized request argument supplied: foo"), None),
        (400, error("'messages' must contain at least one message"), None),
        (429, error("Unrecognized request argument supplied: reasoning_effort"), None),
    ],
)
def test_only_a_400_refusing_an_effort_field_that_was_sent_names_it(
    status: int, data: bytes, field: str | None
) -> None:
    sent = request(reasoning_effort="low", reasoning={"effort": "low"})
    assert refused_field(status, data, sent) == field
    assert refused_field(status, data, request()) is None  # nothing to drop: nothing to retry


def test_the_memory_is_per_model_and_bounded() -> None:
    memory = EffortMemory("acct-1")
    refusal = error("Unrecognized request argument supplied: reasoning_effort")
    first = request("old", reasoning_effort="low")
    again = memory.retry(first, 400, refusal)
    assert again is not None and "reasoning_effort" not in again.body
    assert b"reasoning_effort" not in again.upstream_body(force_usage=False)
    assert "reasoning_effort" not in memory.prepare(request("old", reasoning_effort="high")).body
    assert memory.prepare(request("other", reasoning_effort="high")).body["reasoning_effort"] == "high"
    plain = request("old")
    assert memory.prepare(plain) is plain
    for i in range(MAX_MODELS):
        memory.retry(request(f"m{i}", reasoning_effort="low"), 400, refusal)
    assert len(memory) == MAX_MODELS
    assert memory.prepare(request("old", reasoning_effort="high")).body["reasoning_effort"] == "high"
