"""Usage accounting (`GET /admin/usage`) and the `x-pool-proxy-overhead-ms` header."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.http.keys import STREAMS
from tests.conftest import ALICE, BOB, GatewayFactory, Running, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, Step, error_step


def today(gw: Running) -> str:
    return datetime.fromtimestamp(gw.clock.now(), UTC).date().isoformat()


async def usage(gw: Running, **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    status, body = await gw.admin("GET", f"/admin/usage?{query}")
    assert status == 200, body
    return body


def rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r[body["group_by"]]: r for r in body["data"]}


async def cut_stream(gw: Running, upstream: FakeOpenAI) -> None:
    """A stream that the client closes after its first word (the upstream holds the rest)."""
    for i in (1, 2, 3):
        held = Step(text="a b c d e f g h", hold=asyncio.Event(), hold_after=1)
        upstream.script(f"sk-upstream-{i}-secretvalue", held)
    resp = await gw.post("/v1/chat/completions", chat(stream=True), key=BOB)
    assert resp.status == 200
    await resp.content.readline()  # the first chunk has arrived
    resp.close()
    await until(lambda: upstream.closed_by_client == 1 and not gw.app[STREAMS].open)


async def test_usage_counts_match_requests_per_client_account_and_model(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    alice, bob = gw.client(ALICE), gw.client(BOB)
    for _ in range(3):
        await alice.chat.completions.create(**chat())
    await bob.chat.completions.create(**chat(model="gpt-4o"))
    stream = await bob.chat.completions.create(**chat(stream=True))
    _ = [c async for c in stream]

    clients = rows(await usage(gw, group_by="client"))
    assert clients["alice"]["requests"] == 3
    assert clients["alice"]["prompt_tokens"] == 33 and clients["alice"]["completion_tokens"] == 21
    assert clients["bob"]["requests"] == 2 and clients["bob"]["failures"] == 0
    assert clients["bob"]["prompt_tokens"] == 22  # the stream's usage came from upstream
    assert clients["bob"]["estimated"] == 0

    accounts = rows(await usage(gw, group_by="account"))
    assert sorted(accounts) == ["acct-1", "acct-2", "acct-3"]
    assert sum(r["requests"] for r in accounts.values()) == 5

    models = rows(await usage(gw, group_by="model"))
    assert models["gpt-4o-mini"]["requests"] == 4 and models["gpt-4o"]["requests"] == 1


async def test_stream_cut_by_the_client_still_counts(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    await cut_stream(gw, upstream)
    await until(lambda: len(upstream.seen) == 1)
    body = await usage(gw, group_by="client")
    bob = rows(body)["bob"]
    assert bob["requests"] == 1
    assert bob["failures"] == 1  # it did not end as the client asked
    assert bob["estimated"] == 1  # no usage chunk arrived, so the tokens are estimated
    assert bob["prompt_tokens"] >= 1
    account = rows(await usage(gw, group_by="account"))
    assert sum(r["requests"] for r in account.values()) == 1
    # The cut did not count against the account: it is still active.
    assert {(await gw.account(f"acct-{i}"))["state"] for i in (1, 2, 3)} == {"active"}


async def test_failed_requests_count_as_failures(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=1))
    upstream.script("sk-upstream-1-secretvalue", error_step(500, "server_error"))
    resp = await gw.post("/v1/chat/completions", chat())
    assert resp.status == 502
    await gw.client().chat.completions.create(**chat())
    alice = rows(await usage(gw))["alice"]
    assert alice["requests"] == 2 and alice["failures"] == 1


async def test_usage_days_and_grouping_params(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    await gw.client().chat.completions.create(**chat())
    day = today(gw)
    gw.clock.advance(86400)
    await gw.client().chat.completions.create(**chat())
    await gw.client().chat.completions.create(**chat())
    next_day = today(gw)

    both = await usage(gw, **{"from": day, "to": next_day})
    assert [(r["day"], r["client"], r["requests"]) for r in both["data"]] == [
        (day, "alice", 1),
        (next_day, "alice", 2),
    ]
    assert both["totals"]["requests"] == 3
    assert (await usage(gw))["totals"]["requests"] == 2  # default: today only
    assert (await usage(gw, **{"from": day, "to": day}))["totals"]["requests"] == 1
    later = (datetime.fromisoformat(next_day) + timedelta(days=5)).date().isoformat()
    assert (await usage(gw, **{"from": later}))["data"] == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-02-02&to=2026-02-01", "to"),
        ("group_by=provider", "group_by"),
        ("from=2000-01-01&to=2099-12-31", "from"),
    ],
)
async def test_bad_usage_params_answer_400_naming_the_param(upstream, start_gateway, query, param):
    gw = await start_gateway(base_config(upstream))
    status, body = await gw.admin("GET", f"/admin/usage?{query}")
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param


async def test_usage_needs_the_admin_key(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    resp = await gw.http.get(f"{gw.url}/admin/usage", headers={"Authorization": f"Bearer {ALICE}"})
    assert resp.status == 401


async def test_usage_survives_a_restart(upstream, start_gateway: GatewayFactory):
    config = base_config(upstream)
    first = await start_gateway(config)
    for _ in range(2):
        await first.client().chat.completions.create(**chat())
    await first.client(BOB).chat.completions.create(**chat())
    before = await usage(first, group_by="client")
    await first.runner.cleanup()  # stops the gateway: the snapshot is flushed

    second = await start_gateway(config)
    after = await usage(second, group_by="client")
    assert after["data"] == before["data"]
    assert after["totals"]["requests"] == 3
    await second.client().chat.completions.create(**chat())
    assert rows(await usage(second))["alice"]["requests"] == 3


UPSTREAM_TIME = 0.3  # seconds the fake upstream takes before it answers


async def overhead(gw: Running, body: dict[str, Any], status: int = 200) -> None:
    """The overhead header is the gateway's own time: at most what the client waited for
    the headers minus what the upstream took, however busy the machine is."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await gw.post("/v1/chat/completions", body) as resp:
        waited_ms = (loop.time() - started) * 1000
        assert resp.status == status
        value = float(resp.headers["x-pool-proxy-overhead-ms"])
        await resp.read()
    assert 0 <= value <= waited_ms - UPSTREAM_TIME * 1000


async def test_overhead_header_on_plain_and_streamed_answers(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    upstream.default = Step(delay=UPSTREAM_TIME)  # the upstream's own time is not overhead
    await overhead(gw, chat())
    await overhead(gw, chat(stream=True))


async def test_overhead_header_on_an_upstream_error_too(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=1))
    error = error_step(500, "server_error")
    error.delay = UPSTREAM_TIME
    upstream.script("sk-upstream-1-secretvalue", error)
    await overhead(gw, chat(), status=502)
