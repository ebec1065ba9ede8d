"""Client and account budgets on one gateway (memory store), with the test clock (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import anthropic
import openai
import pytest

from proxy.budget.period import window
from tests.conftest import ALICE, BOB, base_config, chat, until

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in range(1, 4)}
# FakeClock starts at 1_800_000_000 = 2027-01-15 08:00:00 UTC.
NEXT_UTC_MIDNIGHT = datetime(2027, 1, 16, tzinfo=UTC).timestamp()


def with_budget(upstream, budget, **sections):
    raw = base_config(upstream, **sections)
    raw["clients"][0]["budget"] = budget
    return raw


async def test_requests_budget_is_exact_and_the_429_says_when_it_resets(upstream, start_gateway):
    gw = await start_gateway(with_budget(upstream, {"requests": 3, "period": "day"}))
    client = gw.client(ALICE)
    for _ in range(3):
        await client.chat.completions.create(**chat())
    calls = len(upstream.seen)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(**chat())
    error = info.value
    assert error.code == "insufficient_quota" and error.type == "insufficient_quota"
    assert "budget of 3 requests per day" in error.message
    assert "2027-01-16 00:00 UTC" in error.message and "16 h 0 min" in error.message
    assert error.response.headers["Retry-After"] == str(16 * 3600)
    assert len(upstream.seen) == calls  # nothing reached the pool
    await gw.client(BOB).chat.completions.create(**chat())  # other clients are not affected
    async with gw.http.get(f"{gw.url}/metrics") as resp:
        metrics = await resp.text()
    assert 'pool_proxy_rate_limit_rejections_total{kind="budget"} 1.0' in metrics
    assert 'kind="pool"' not in metrics
    refused = 'pool_proxy_requests_total{client="alice",model="none",route="chat",status="429"} 1.0'
    assert refused in metrics  # the refusal names its client


async def test_refused_and_failed_requests_do_not_count(upstream, start_gateway):
    gw = await start_gateway(with_budget(upstream, {"requests": 2}))
    client = gw.client(ALICE)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(**chat(model="no-such-model"))
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=[])
    await client.chat.completions.create(**chat())
    await client.chat.completions.create(**chat())
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(**chat())
    await client.models.list()  # listing models is not a request against the budget


async def test_period_resets_at_midnight_on_the_test_clock(upstream, start_gateway):
    gw = await start_gateway(with_budget(upstream, {"requests": 1}))
    client = gw.client(ALICE)
    await client.chat.completions.create(**chat())
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(**chat())
    gw.clock.advance(NEXT_UTC_MIDNIGHT - gw.clock.now() - 1)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(**chat())
    assert info.value.response.headers["Retry-After"] == "1"
    gw.clock.advance(1)
    await client.chat.completions.create(**chat())


async def test_tokens_budget_is_charged_from_the_upstream_usage(upstream, start_gateway):
    gw = await start_gateway(with_budget(upstream, {"tokens": 40}))
    client = gw.client(ALICE)
    await client.chat.completions.create(**chat())  # 18 tokens, as the upstream reports
    stream = await client.chat.completions.create(**chat(stream=True))
    async for _ in stream:
        pass
    me = await me_of(gw, ALICE)
    assert me["used"]["tokens"] == 36 and me["budget"] == {"period": "day", "tokens": 40}
    await client.chat.completions.create(**chat())  # 36 < 40: allowed, and overshoots to 54
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(**chat())
    assert "budget of 40 tokens per day" in info.value.message
    with pytest.raises(openai.RateLimitError):  # a chat UI's stream gets the same 429, before any chunk
        await client.chat.completions.create(**chat(stream=True))


async def test_tokens_budget_is_charged_from_estimates_when_the_upstream_reports_none(monica, start_gateway):
    raw = {
        "admin_key": "admin-secret-0123456789",
        "clients": [{"name": "alice", "key": ALICE, "budget": {"tokens": 1_000_000}}],
        "accounts": [{"id": "m1", "provider": "monica", "cookie": "session_id=abc", "base_url": monica.url}],
        "logging": {"level": "warning"},
    }
    gw = await start_gateway(raw)
    reply = await gw.client(ALICE).chat.completions.create(**chat(model="gpt-4o", text="x" * 400))
    me = await me_of(gw, ALICE)
    assert me["used"]["tokens"] == reply.usage.total_tokens >= 100


async def test_budget_periods_follow_the_configured_time_zone(upstream, start_gateway):
    raw = with_budget(upstream, {"requests": 1, "period": "month"}, pool={"budget_timezone": "Asia/Tokyo"})
    gw = await start_gateway(raw)
    await gw.client(ALICE).chat.completions.create(**chat())
    me = await me_of(gw, ALICE)
    assert me["resets_at"] == datetime(2027, 2, 1, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp()
    with pytest.raises(openai.RateLimitError) as info:
        await gw.client(ALICE).chat.completions.create(**chat())
    assert "2027-02-01 00:00 Asia/Tokyo" in info.value.message


def test_a_day_is_local_midnight_to_midnight_across_daylight_saving():
    paris = ZoneInfo("Europe/Paris")
    spring = datetime(2027, 3, 28, 12, tzinfo=paris).timestamp()  # a 23-hour day
    w = window(spring, "day", paris)
    assert w.resets_at - w.starts_at == 23 * 3600
    assert datetime.fromtimestamp(w.resets_at, paris).hour == 0


async def test_usd_budget_with_prices(upstream, start_gateway):
    raw = with_budget(upstream, {"usd": 0.0002}, prices={"gpt-4o*": {"input": 5, "output": 15}})
    gw = await start_gateway(raw)
    await gw.client(ALICE).chat.completions.create(**chat())  # 11 * 5 + 7 * 15 = 160 micro-dollars
    me = await me_of(gw, ALICE)
    assert me["used"]["usd"] == pytest.approx(0.00016)
    await gw.client(ALICE).chat.completions.create(**chat())
    with pytest.raises(openai.RateLimitError) as info:
        await gw.client(ALICE).chat.completions.create(**chat())
    assert "budget of 0.0002 USD per day" in info.value.message


async def test_an_aliased_model_is_priced_as_the_model_that_serves_it(upstream, start_gateway):
    """Claude Code asks for `claude-*` names the operator aliases to pool models: the cost is
    the served model's, so a usd budget holds (an alias has no price of its own)."""
    raw = with_budget(
        upstream,
        {"usd": 0.0002},
        prices={"gpt-4o*": {"input": 5, "output": 15}},
        model_aliases={"claude-*": "gpt-4o"},
    )
    gw = await start_gateway(raw)
    async with anthropic.AsyncAnthropic(base_url=gw.url, api_key=ALICE, max_retries=0) as claude:
        ask = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 100}
        await claude.messages.create(**ask, messages=[{"role": "user", "content": "hi"}])
        me = await me_of(gw, ALICE)
        assert me["used"]["usd"] == pytest.approx(0.00016)  # 11 * 5 + 7 * 15 micro-dollars
        _, usage = await gw.admin("GET", "/admin/usage?group_by=model")
        assert usage["totals"]["usd"] == pytest.approx(0.00016)
        await claude.messages.create(**ask, messages=[{"role": "user", "content": "again"}])
        with pytest.raises(anthropic.RateLimitError) as info:
            await claude.messages.create(**ask, messages=[{"role": "user", "content": "more"}])
    assert "budget of 0.0002 USD per day" in str(info.value)


async def test_me_shows_a_key_holder_their_own_standing(upstream, start_gateway):
    raw = with_budget(upstream, {"requests": 10, "tokens": 2000})
    raw["clients"][0]["models"] = ["gpt-4o-mini"]
    gw = await start_gateway(raw)
    await gw.client(ALICE).chat.completions.create(**chat())
    me = await me_of(gw, ALICE)
    assert me["name"] == "alice" and me["models"] == ["gpt-4o-mini"]
    assert me["used"] == {"requests": 1, "tokens": 18, "usd": 0}
    assert me["resets_at"] == NEXT_UTC_MIDNIGHT and ALICE not in str(me)
    async with gw.http.get(f"{gw.url}/v1/me", headers={"Authorization": "Bearer nope"}) as resp:
        assert resp.status == 401
    async with gw.http.get(f"{gw.url}/me") as resp:
        assert resp.status == 200 and "/v1/me" in await resp.text()


async def me_of(gw, key):
    async with gw.http.get(f"{gw.url}/v1/me", headers={"Authorization": f"Bearer {key}"}) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_account_budget_skips_the_account_until_the_period_resets(upstream, start_gateway):
    raw = base_config(upstream, accounts=2)
    raw["accounts"][0]["budget"] = {"requests": 2, "period": "day"}
    gw = await start_gateway(raw)
    client = gw.client(ALICE)
    for _ in range(6):
        await client.chat.completions.create(**chat())
    assert upstream.keys_seen().count(KEY[1]) == 2
    account = await gw.account("acct-1")
    assert account["state"] == "exhausted" and account["reason"] == "budget"
    assert account["until"] == NEXT_UTC_MIDNIGHT

    gw.clock.advance(NEXT_UTC_MIDNIGHT - gw.clock.now())
    before = upstream.keys_seen().count(KEY[1])
    for _ in range(4):
        await client.chat.completions.create(**chat())
    assert upstream.keys_seen().count(KEY[1]) - before == 2
    await until(lambda: _state(gw, "acct-1", "exhausted"))


async def test_account_tokens_budget_exhausts_it_after_the_answer(upstream, start_gateway):
    raw = base_config(upstream, accounts=1)
    raw["accounts"][0]["budget"] = {"tokens": 30}
    gw = await start_gateway(raw)
    client = gw.client(ALICE)
    await client.chat.completions.create(**chat())
    await client.chat.completions.create(**chat())
    await until(lambda: _state(gw, "acct-1", "exhausted"))
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(**chat())
    assert info.value.code == "insufficient_quota"
    assert len(upstream.seen) == 2


async def _state(gw, account, state):
    return (await gw.account(account))["state"] == state


async def test_usage_shows_estimated_cost_per_client_account_and_model(upstream, start_gateway):
    raw = base_config(upstream, accounts=1, prices={"gpt-4o-mini": {"input": 0.15, "output": 0.6}})
    gw = await start_gateway(raw)
    await gw.client(ALICE).chat.completions.create(**chat())
    await gw.client(ALICE).chat.completions.create(**chat(model="gpt-4o"))  # no price: no cost
    expected = (11 * 0.15 + 7 * 0.6) / 1e6
    for group, name in (("client", "alice"), ("account", "acct-1"), ("model", "gpt-4o-mini")):
        _, usage = await gw.admin("GET", f"/admin/usage?group_by={group}")
        row = next(r for r in usage["data"] if r[group] == name)
        assert row["usd"] == pytest.approx(expected), group
        assert usage["totals"]["usd"] == pytest.approx(expected)


async def test_one_budget_covers_every_door_that_reaches_the_pool(upstream, start_gateway):
    raw = with_budget(upstream, {"requests": 3})
    for account in raw["accounts"]:
        account["models"].append("text-embedding-3-small")
    gw = await start_gateway(raw)
    client = gw.client(ALICE)
    await client.chat.completions.create(**chat())
    await client.responses.create(model="gpt-4o-mini", input="Hi")
    await client.embeddings.create(model="text-embedding-3-small", input="alpha")
    for refused in (
        client.chat.completions.create(**chat()),
        client.responses.create(model="gpt-4o-mini", input="Hi"),
        client.embeddings.create(model="text-embedding-3-small", input="alpha"),
    ):
        with pytest.raises(openai.RateLimitError) as info:
            await refused
        assert info.value.code == "insufficient_quota"
    assert len(upstream.seen) == 3
