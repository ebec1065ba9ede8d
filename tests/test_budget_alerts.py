"""A `budget` alert when a client's or an account's budget is used up: once per period, at
the request that used it up, not on every refused request; once across two replicas.

"Once" is checked with a later marker event (an operator's `disable`): a replica's events
leave in order, so when the marker has arrived, a second `budget` event would have too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import ADMIN, ALICE, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.redis_server import REDIS_URL, redis_prefix
from tests.fakes.replicas import Replica, replica_pair
from tests.fakes.webhook import HOOK_PATH, FakeWebhook

__all__ = ["redis_prefix"]  # the fixture

NEXT_UTC_MIDNIGHT = 1_800_057_600.0  # FakeClock starts at 2027-01-15 08:00 UTC
EVENTS = ["budget", "disabled", "exhausted"]


def config(upstream: FakeOpenAI, webhook: FakeWebhook, budget: dict[str, Any]) -> dict[str, Any]:
    raw = base_config(upstream, accounts=2, notify={"webhook": webhook.hook_url, "events": EVENTS})
    raw["clients"][0]["budget"] = budget
    return raw


async def test_a_client_using_up_its_requests_budget_is_announced_once(upstream, webhook, start_gateway):
    gw = await start_gateway(config(upstream, webhook, {"requests": 2, "period": "day"}))
    client = gw.client(ALICE)
    await client.chat.completions.create(**chat())
    await client.chat.completions.create(**chat())  # the last request of the day: announced now
    await until(lambda: webhook.events() == ["budget"])
    event = webhook.received[0]
    assert (event["subject"], event["client"], event["measure"]) == ("client", "alice", "requests")
    assert (event["limit"], event["spent"], event["period"]) == (2, 2, "day")
    assert event["resets_at"] == NEXT_UTC_MIDNIGHT
    assert event["budget"] == {"period": "day", "requests": 2}
    assert "Client 'alice' has used its budget of 2 requests per day" in event["text"]
    assert "2027-01-16 00:00 UTC" in event["text"]

    for _ in range(3):  # refused: the budget is spent, and nobody is told again
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(**chat())
    await gw.admin("POST", "/admin/accounts/acct-1/disable")
    await until(lambda: "disabled" in webhook.events())
    assert webhook.events() == ["budget", "disabled"]
    text = str(webhook.received)
    for secret in (ALICE, "sk-upstream-1-secretvalue", ADMIN, HOOK_PATH):
        assert secret not in text

    gw.clock.advance(NEXT_UTC_MIDNIGHT - gw.clock.now())  # a new period, a new announcement
    await client.chat.completions.create(**chat())
    await client.chat.completions.create(**chat())
    await until(lambda: webhook.events() == ["budget", "disabled", "budget"])


async def test_a_tokens_budget_is_announced_by_the_answer_that_went_over(upstream, webhook, start_gateway):
    gw = await start_gateway(config(upstream, webhook, {"tokens": 30}))
    client = gw.client(ALICE)
    await client.chat.completions.create(**chat())  # 18 tokens: under
    await gw.admin("POST", "/admin/accounts/acct-1/disable")
    await until(lambda: webhook.events() == ["disabled"])
    await client.chat.completions.create(**chat())  # 36 tokens: over
    await until(lambda: webhook.events() == ["disabled", "budget"])
    event = webhook.received[1]
    assert (event["measure"], event["limit"], event["spent"]) == ("tokens", 30, 36)
    assert "Used: 36 tokens" in event["text"]


async def test_an_account_at_its_budget_is_announced_as_budget_not_as_exhausted(
    upstream, webhook, start_gateway
):
    raw = config(upstream, webhook, {"requests": 100})
    raw["accounts"][0]["budget"] = {"requests": 2, "period": "month"}
    gw = await start_gateway(raw)
    for _ in range(6):
        await gw.client(ALICE).chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "exhausted"
    await until(lambda: webhook.events() == ["budget"])
    event = webhook.received[0]
    assert (event["subject"], event["account"], event["measure"], event["period"]) == (
        "account",
        "acct-1",
        "requests",
        "month",
    )
    assert "client" not in event and "Account 'acct-1' has used its budget" in event["text"]
    await gw.admin("POST", "/admin/accounts/acct-2/disable")
    await until(lambda: "disabled" in webhook.events())
    assert webhook.events() == ["budget", "disabled"]  # no second message for the same rest


async def test_an_operator_who_wants_no_budget_events_still_hears_the_account_rest(
    upstream, webhook, start_gateway
):
    raw = base_config(upstream, accounts=2, notify={"webhook": webhook.hook_url, "events": ["exhausted"]})
    raw["accounts"][0]["budget"] = {"requests": 1}
    gw = await start_gateway(raw)
    for _ in range(3):
        await gw.client(ALICE).chat.completions.create(**chat())
    await until(lambda: webhook.events() == ["exhausted"])
    assert webhook.received[0]["reason"] == "budget"


async def test_two_replicas_announce_one_crossing_once(
    upstream: FakeOpenAI, webhook: FakeWebhook, redis_prefix: str, tmp_path: Path
) -> None:
    raw = config(upstream, webhook, {"requests": 4})
    raw["state"] = {"backend": "redis", "redis_url": REDIS_URL, "key_prefix": redis_prefix}
    raw["state"]["redis_timeout"] = "1s"  # a loaded machine must not look like an outage
    raw["server"] = {"shutdown_grace": "1s"}
    async with replica_pair(raw, tmp_path) as (a, b), aiohttp.ClientSession() as http:

        async def call(replica: Replica, method: str, path: str, key: str = ALICE) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            body = chat() if path.endswith("completions") else None
            async with http.request(method, f"{replica.url}{path}", json=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        answered = await asyncio.gather(*(call(r, "POST", "/v1/chat/completions") for r in (a, b, a, b)))
        assert answered == [200] * 4
        for replica in (a, b):  # each replica finds the budget spent
            assert await call(replica, "POST", "/v1/chat/completions") == 429
            assert await call(replica, "GET", "/v1/me") == 200  # its charges (and alerts) are settled
        assert await call(a, "POST", "/admin/accounts/acct-1/disable", ADMIN) == 200
        assert await call(b, "POST", "/admin/accounts/acct-2/disable", ADMIN) == 200
        await until(lambda: webhook.events().count("disabled") == 2)
    assert webhook.events().count("budget") == 1
    event = next(e for e in webhook.received if e["event"] == "budget")
    assert (event["client"], event["spent"], event["limit"]) == ("alice", 4, 4)
