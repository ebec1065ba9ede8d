"""Model fallbacks: when every account of a model rests, the next model listed serves, and
the answer says so; nothing else (a client error, the client's own limit) falls back."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conftest import ALICE, base_config, chat
from tests.fakes.openai_upstream import FakeOpenAI, error_step
from tests.test_budget import me_of

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in (1, 2, 3)}
LIMITED = "sk-test-limited-0123456789"


def fallback_config(upstream: FakeOpenAI, **sections: Any) -> dict[str, Any]:
    """acct-1 and acct-2 serve gpt-4o, acct-3 serves gpt-4o-mini, the fallback of gpt-4o."""
    raw = base_config(upstream, accounts=3, model_fallbacks={"gpt-4o": ["gpt-4o-mini"]}, **sections)
    for entry, models in zip(raw["accounts"], (["gpt-4o"], ["gpt-4o"], ["gpt-4o-mini"]), strict=True):
        entry["models"] = models
    raw["clients"].append(
        {"name": "limited", "key": LIMITED, "rate_limit": {"rps": 0.01, "burst": 1}, "models": ["gpt-4o"]}
    )
    return raw


def rest_both_gpt_4o_accounts(upstream: FakeOpenAI) -> None:
    for i in (1, 2):
        upstream.script(KEY[i], error_step(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "60"}))


async def test_every_account_cooling_is_served_by_the_first_fallback_with_the_header(upstream, start_gateway):
    gw = await start_gateway(fallback_config(upstream))
    rest_both_gpt_4o_accounts(upstream)
    raw = await gw.client().chat.completions.with_raw_response.create(**chat("gpt-4o"))
    reply = raw.parse()
    assert raw.headers["x-pool-proxy-fallback"] == "gpt-4o-mini"
    assert reply.model == "gpt-4o-mini"
    assert [s.key for s in upstream.seen] == [KEY[1], KEY[2], KEY[3]]
    assert upstream.seen[-1].body["model"] == "gpt-4o-mini"
    assert {(await gw.account(f"acct-{i}"))["state"] for i in (1, 2)} == {"cooling"}

    stream = await gw.client().chat.completions.with_raw_response.create(**chat("gpt-4o"), stream=True)
    assert stream.headers["x-pool-proxy-fallback"] == "gpt-4o-mini"
    chunks = [c async for c in stream.parse()]
    assert {c.model for c in chunks} == {"gpt-4o-mini"}
    assert [s.key for s in upstream.seen[3:]] == [KEY[3]]  # resting accounts were not tried again


async def test_an_answer_from_the_asked_model_carries_no_fallback_header(upstream, start_gateway):
    gw = await start_gateway(fallback_config(upstream))
    raw = await gw.client().chat.completions.with_raw_response.create(**chat("gpt-4o"))
    assert "x-pool-proxy-fallback" not in raw.headers
    assert raw.parse().model == "gpt-4o"


async def test_a_400_from_the_upstream_is_not_retried_on_a_fallback(upstream, start_gateway):
    gw = await start_gateway(fallback_config(upstream))
    upstream.script(KEY[1], error_step(400, "context_length_exceeded", "This model's maximum context length"))
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(**chat("gpt-4o"))
    assert "maximum context length" in str(info.value)
    assert [s.key for s in upstream.seen] == [KEY[1]]


async def test_the_clients_own_limit_and_allow_list_are_not_fallback_reasons(upstream, start_gateway):
    gw = await start_gateway(fallback_config(upstream))
    rest_both_gpt_4o_accounts(upstream)
    limited = gw.client(LIMITED)
    with pytest.raises(openai.APIStatusError) as info:  # gpt-4o-mini is outside its allow-list
        await limited.chat.completions.create(**chat("gpt-4o"))
    assert info.value.status_code == 503
    with pytest.raises(openai.RateLimitError) as limit:  # its bucket is empty now
        await limited.chat.completions.create(**chat("gpt-4o"))
    assert limit.value.code == "rate_limit_exceeded"
    assert KEY[3] not in upstream.keys_seen()


async def test_exhausted_accounts_fall_back_too_and_the_first_error_stays_when_no_fallback_can(
    upstream, start_gateway
):
    gw = await start_gateway(fallback_config(upstream))
    for i in (1, 2):
        upstream.script(KEY[i], error_step(429, "insufficient_quota", "You exceeded your current quota"))
    reply = await gw.client(ALICE).chat.completions.create(**chat("gpt-4o"))
    assert reply.model == "gpt-4o-mini"
    await gw.admin("POST", "/admin/accounts/acct-3/disable")
    with pytest.raises(openai.RateLimitError) as info:
        await gw.client().chat.completions.create(**chat("gpt-4o"))
    assert info.value.code == "insufficient_quota"  # why gpt-4o failed, not why gpt-4o-mini did


async def test_answers_built_by_the_gateway_name_the_fallback_model_too(upstream, start_gateway):
    # With body logging on, the gateway builds the chunks itself instead of relaying the
    # upstream's own: they must name the model that served as well.
    gw = await start_gateway(fallback_config(upstream, logging={"level": "warning", "log_bodies": True}))
    rest_both_gpt_4o_accounts(upstream)
    reply = await gw.client().chat.completions.create(**chat("gpt-4o"))
    assert reply.model == "gpt-4o-mini"
    stream = await gw.client().chat.completions.with_raw_response.create(**chat("gpt-4o"), stream=True)
    assert stream.headers["x-pool-proxy-fallback"] == "gpt-4o-mini"
    chunks = [c async for c in stream.parse()]
    assert {c.model for c in chunks} == {"gpt-4o-mini"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_embeddings_never_fall_back_to_another_model(upstream, start_gateway):
    """Vectors of another model would mix into an index built with the first one."""
    raw = base_config(
        upstream, accounts=2, model_fallbacks={"text-embedding-3-large": ["text-embedding-3-small"]}
    )
    raw["accounts"][0]["models"] = ["text-embedding-3-large"]
    raw["accounts"][1]["models"] = ["text-embedding-3-small"]
    gw = await start_gateway(raw)
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "60"}))
    with pytest.raises(openai.InternalServerError) as info:  # 503 no_available_account
        await gw.client().embeddings.create(model="text-embedding-3-large", input="alpha")
    assert info.value.status_code == 503
    assert "x-pool-proxy-fallback" not in info.value.response.headers
    assert [s.key for s in upstream.seen] == [KEY[1]]


async def test_a_fallback_answer_is_priced_as_the_model_that_served_it(upstream, start_gateway):
    prices = {"gpt-4o": {"input": 5, "output": 15}, "gpt-4o-mini": {"input": 1, "output": 2}}
    gw = await start_gateway(fallback_config(upstream, prices=prices))
    rest_both_gpt_4o_accounts(upstream)
    raw = await gw.client(ALICE).chat.completions.with_raw_response.create(**chat("gpt-4o"))
    assert raw.headers["x-pool-proxy-fallback"] == "gpt-4o-mini"
    me = await me_of(gw, ALICE)
    assert me["used"]["usd"] == pytest.approx((11 * 1 + 7 * 2) / 1e6)  # mini's price, not gpt-4o's
