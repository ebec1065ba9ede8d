"""Two gateway processes, one Redis, one fake upstream: the replicas act as one pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.conftest import ADMIN, ALICE, base_config, chat, until
from tests.fakes.nginx import Nginx
from tests.fakes.openai_upstream import FakeOpenAI, Step, error_step
from tests.fakes.redis_server import REDIS_URL, redis_prefix
from tests.fakes.replicas import Replica
from tests.processes import wait_ready

__all__ = ["redis_prefix"]  # the fixture

KEY_1, KEY_2 = "sk-upstream-1-secretvalue", "sk-upstream-2-secretvalue"
BURSTY = "sk-test-bursty-0123456789"
Pair = tuple[Replica, Replica]
StartPair = Callable[..., Awaitable[Pair]]


@pytest.fixture
async def start_pair(tmp_path: Path, upstream: FakeOpenAI, redis_prefix: str) -> AsyncIterator[StartPair]:
    """Start replicas A and B on one config (redis backend, this test's key prefix)."""
    started: list[Replica] = []

    async def start(accounts: int = 2, max_concurrency: int | None = None, **sections: Any) -> Pair:
        state = {
            "backend": "redis",
            "redis_url": REDIS_URL,
            "key_prefix": redis_prefix,
            "redis_timeout": "1s",
        }
        config = base_config(upstream, accounts, **sections)
        for entry in config["accounts"]:
            if max_concurrency is not None:
                entry["max_concurrency"] = max_concurrency
        config["state"] = {**state, **sections.get("state", {})}
        config["server"] = {"shutdown_grace": "1s"}
        config["clients"].append({"name": "bursty", "key": BURSTY, "rate_limit": {"rps": 0.01, "burst": 10}})
        pair = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
        started.extend(pair)
        await asyncio.gather(*(r.start() for r in pair))
        return pair

    yield start
    for replica in started:
        replica.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, replica: Replica, body: dict[str, Any], key: str = ALICE) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(f"{replica.url}/v1/chat/completions", json=body, headers=headers) as resp:
        await resp.read()
        return resp.status


async def account(http: aiohttp.ClientSession, replica: Replica, account_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with http.get(f"{replica.url}/admin/accounts", headers=headers) as resp:
        body = await resp.json()
    found: dict[str, Any] = next(a for a in body["data"] if a["id"] == account_id)
    return found


def track_concurrency(upstream: FakeOpenAI) -> dict[str, int]:
    """Count streams the upstream serves at once (exactly, in its own handler)."""
    counts = {"now": 0, "peak": 0}
    stream = upstream._stream

    async def tracked(*args: Any) -> Any:
        counts["now"] += 1
        counts["peak"] = max(counts["peak"], counts["now"])
        try:
            return await stream(*args)
        finally:
            counts["now"] -= 1

    upstream._stream = tracked  # type: ignore[method-assign]
    return counts


async def test_an_account_rested_by_one_replica_is_skipped_by_the_other(
    start_pair: StartPair, upstream: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    a, b = await start_pair()
    upstream.script(KEY_1, error_step(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "60"}))
    for _ in range(2):  # round robin reaches acct-1 within two requests; failover hides the 429
        assert await post(http, a, chat()) == 200
        if KEY_1 in upstream.keys_seen():
            break
    assert KEY_1 in upstream.keys_seen()
    before = len(upstream.seen)
    for _ in range(4):
        assert await post(http, b, chat()) == 200
    assert upstream.keys_seen()[before:] == [KEY_2] * 4
    assert (await account(http, b, "acct-1"))["state"] == "cooling"


async def test_a_client_burst_of_10_admits_exactly_10_of_40_across_replicas(
    start_pair: StartPair, http: aiohttp.ClientSession
) -> None:
    a, b = await start_pair()
    statuses = await asyncio.gather(*(post(http, (a, b)[i % 2], chat(), key=BURSTY) for i in range(40)))
    assert sorted(statuses) == [200] * 10 + [429] * 30


async def test_max_concurrency_holds_across_replicas(
    start_pair: StartPair, upstream: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    a, b = await start_pair(accounts=1, max_concurrency=1, pool={"queue_timeout": "20s"})
    upstream.script(KEY_1, *(Step("slow", delay=0.04, text="one two three four") for _ in range(6)))
    counts = track_concurrency(upstream)
    body = chat(stream=True)
    statuses = await asyncio.gather(*(post(http, (a, b)[i % 2], body) for i in range(6)))
    assert statuses == [200] * 6
    assert upstream.keys_seen() == [KEY_1] * 6
    assert counts["peak"] == 1


async def test_a_replica_killed_mid_stream_frees_its_lease_after_the_ttl(
    start_pair: StartPair, upstream: FakeOpenAI, http: aiohttp.ClientSession, redis_prefix: str
) -> None:
    a, b = await start_pair(
        accounts=1, max_concurrency=1, pool={"queue_timeout": "10s"}, state={"lease_ttl": "1s"}
    )
    # the stream stays open (first word sent, the rest held) until replica A dies
    upstream.script(KEY_1, Step(text="one two three", hold=asyncio.Event(), hold_after=1))
    stream = asyncio.create_task(post(http, a, chat(stream=True)))
    await until(lambda: upstream.held == 1)
    leases = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{redis_prefix}v1:leases:acct-1"

    async def redis_now_ms() -> float:
        seconds, micros = await leases.time()
        return (seconds + micros / 1e6) * 1000

    try:
        ((_, first_expiry),) = await leases.zrange(key, 0, -1, withscores=True)

        async def refreshed_past_the_first_ttl() -> bool:
            # Redis's clock passed the lease's first expiry, and the lease is still held:
            # replica A keeps it alive while the stream runs.
            members = await leases.zrange(key, 0, -1, withscores=True)
            now = await redis_now_ms()
            return now > first_expiry and len(members) == 1 and members[0][1] > now

        await until(refreshed_past_the_first_ttl, timeout=15.0)
    finally:
        await leases.aclose()
    a.kill()
    stream.cancel()
    # queue_timeout is 10 s: a 200 says B waited for the dead lease's TTL (1 s), not forever
    assert await post(http, b, chat()) == 200


async def test_exactly_one_probe_after_a_rest_across_replicas(
    start_pair: StartPair, upstream: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    a, b = await start_pair()
    probe_answer = asyncio.Event()
    upstream.script(
        KEY_1,
        error_step(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "1"}),
        Step("ok", hold=probe_answer),  # the probe answers when the test says so
    )
    for _ in range(2):
        assert await post(http, a, chat()) == 200
        if KEY_1 in upstream.keys_seen():
            break

    async def probe_due() -> bool:
        return bool((await account(http, b, "acct-1"))["probe_due"])

    await until(probe_due)
    before = len(upstream.seen)
    requests = [asyncio.create_task(post(http, (a, b)[i % 2], chat())) for i in range(20)]
    await until(lambda: upstream.held == 1 and sum(r.done() for r in requests) == 19, timeout=20.0)
    probe_answer.set()
    statuses = await asyncio.gather(*requests)
    assert statuses == [200] * 20
    assert upstream.keys_seen()[before:].count(KEY_1) == 1
    assert (await account(http, a, "acct-1"))["state"] == "active"  # the probe succeeded


@pytest.fixture
async def behind_nginx(
    tmp_path: Path, start_pair: StartPair
) -> AsyncIterator[Callable[..., Awaitable[Nginx]]]:
    """Replicas A and B behind deploy/nginx.conf, as docker-compose runs them."""
    proxies: list[Nginx] = []

    async def start(**kwargs: Any) -> Nginx:
        a, b = await start_pair(**kwargs)
        nginx = Nginx(tmp_path, [a.port, b.port])
        nginx.start()
        proxies.append(nginx)
        await wait_ready(nginx.url, alive=lambda: nginx.process is not None and nginx.process.poll() is None)
        return nginx

    yield start
    for nginx in proxies:
        nginx.stop()


async def test_replicas_behind_the_deploy_nginx_share_one_client_bucket(behind_nginx, http):
    nginx = await behind_nginx()
    statuses = await asyncio.gather(*(post(http, nginx, chat(), key=BURSTY) for _ in range(30)))
    assert sorted(statuses) == [200] * 10 + [429] * 20
    assert len(set(nginx.upstreams_seen())) == 2  # nginx spread them over both replicas


async def test_streams_pass_the_deploy_nginx_unbuffered(behind_nginx, upstream, http):
    rest = asyncio.Event()
    upstream.default = Step(text="first second third fourth", hold=rest, hold_after=1)
    nginx = await behind_nginx()
    headers = {"Authorization": f"Bearer {ALICE}"}
    async with http.post(f"{nginx.url}/v1/chat/completions", json=chat(stream=True), headers=headers) as resp:
        assert resp.status == 200
        seen = b""
        async with asyncio.timeout(15):  # nginx buffering would hold the word back for good
            while b'"first"' not in seen:
                seen += await resp.content.readuntil(b"\n\n")
        assert upstream.held == 1  # the first word arrived while the upstream held the next
        rest.set()
        assert (await resp.read()).endswith(b"data: [DONE]\n\n")
