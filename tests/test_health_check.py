"""Scheduled account checks: resting accounts are tested on a timer, a pass revives them
early, and across replicas one account is never probed twice at once."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import base_config, chat, until
from tests.fakes.monica import FakeMonica
from tests.fakes.monica import Step as MonicaStep
from tests.fakes.openai_upstream import FakeOpenAI, Step, error_step
from tests.fakes.redis_server import REDIS_URL, redis_prefix

__all__ = ["redis_prefix"]  # the fixture

SESSION = "sess-monica-0123456789"
KEY_1, KEY_2 = "sk-upstream-1-secretvalue", "sk-upstream-2-secretvalue"
CHECKS = {"health_check": {"every": "30m", "states": ["invalid", "exhausted"]}}


def monica_config(monica: FakeMonica) -> dict[str, Any]:
    config = base_config(accounts=0, pool=CHECKS)
    config["accounts"] = [{"id": "monica-1", "provider": "monica", "cookie": SESSION, "base_url": monica.url}]
    return config


async def test_a_logged_out_account_comes_back_at_the_first_check_after_it_logs_in(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    monica.script(SESSION, MonicaStep("login"), MonicaStep("login"))
    with_error = await gw.post("/v1/chat/completions", chat("gpt-4o"))
    assert with_error.status == 503
    assert (await gw.account("monica-1"))["state"] == "invalid"

    results = await gw.gateway.health.run_once()  # still logged out
    assert [(r.account, r.outcome, r.state) for r in results] == [("monica-1", "auth_failed", "invalid")]
    assert await gw.gateway.health.run_once() == []  # tested once per period
    gw.clock.advance(30 * 60)
    results = await gw.gateway.health.run_once()  # logged in again
    assert [(r.account, r.outcome, r.state) for r in results] == [("monica-1", "ok", "active")]
    assert (await gw.post("/v1/chat/completions", chat("gpt-4o"))).status == 200
    assert monica.problems == []


async def test_an_exhausted_account_whose_plan_reset_early_is_active_again(
    upstream: FakeOpenAI, start_gateway
):
    gw = await start_gateway(base_config(upstream, accounts=2, pool=CHECKS))
    upstream.script(KEY_1, error_step(429, "insufficient_quota", "You exceeded your current quota"))
    await gw.client().chat.completions.create(**chat())
    row = await gw.account("acct-1")
    assert row["state"] == "exhausted" and row["seconds_left"] > 3600
    results = await gw.gateway.health.run_once()
    assert [(r.account, r.state) for r in results] == [("acct-1", "active")]  # acct-2 is not resting
    assert [s.key for s in upstream.seen[-1:]] == [KEY_1]


async def test_states_outside_the_configured_ones_are_left_to_their_own_recovery(upstream, start_gateway):
    raw = base_config(upstream, accounts=1, pool={**CHECKS, "failure_threshold": 1})
    gw = await start_gateway(raw)
    upstream.script(KEY_1, error_step(500, "server_error"))
    await gw.post("/v1/chat/completions", chat())
    assert (await gw.account("acct-1"))["state"] == "cooling"
    seen = len(upstream.seen)
    assert await gw.gateway.health.run_once() == []
    assert len(upstream.seen) == seen


async def test_two_replicas_never_probe_one_account_at_once(
    upstream: FakeOpenAI, start_gateway, redis_prefix
):
    raw = base_config(upstream, accounts=1, pool=CHECKS)
    raw["state"] = {
        "backend": "redis",
        "redis_url": REDIS_URL,
        "key_prefix": redis_prefix,
        "redis_timeout": "1s",
    }
    a = await start_gateway(raw)
    b = await start_gateway(raw)
    upstream.script(KEY_1, error_step(401, "invalid_api_key"))
    await a.post("/v1/chat/completions", chat())
    await until(lambda: b.gateway.store.status("acct-1").state.value == "invalid")

    release = asyncio.Event()  # the upstream holds the probe until the test says
    upstream.script(KEY_1, Step(hold=release))
    seen = len(upstream.seen)
    first = asyncio.create_task(a.gateway.health.run_once())
    await until(lambda: upstream.held == 1)  # replica a's probe is on its way
    assert await b.gateway.health.run_once() == []  # replica b leaves the account to a
    assert upstream.held == 1 and len(upstream.seen) == seen + 1
    release.set()
    results = await first
    assert [(r.account, r.outcome) for r in results] == [("acct-1", "ok")]
    assert len(upstream.seen) == seen + 1
    await until(lambda: b.gateway.store.status("acct-1").state.value == "active")
