"""Two gateway processes on one Redis: runtime keys and budgets hold across replicas (issue 12)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ADMIN, ALICE, base_config, chat
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.redis_server import REDIS_URL, PrivateRedis, redis_prefix
from tests.fakes.replicas import Replica

__all__ = ["redis_prefix"]  # the fixture

Pair = tuple[Replica, Replica]


@pytest.fixture
async def pair(
    tmp_path: Path, upstream: FakeOpenAI, redis_prefix: str
) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    started: list[Replica] = []

    async def start(**sections: Any) -> Pair:
        config = base_config(upstream, 2, **sections)
        config["state"] = {
            "backend": "redis",
            "redis_url": REDIS_URL,
            "key_prefix": redis_prefix,
            "redis_timeout": "1s",
        }
        config["server"] = {"shutdown_grace": "1s"}
        replicas = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
        started.extend(replicas)
        await asyncio.gather(*(r.start() for r in replicas))
        return replicas

    yield start
    for replica in started:
        replica.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, replica: Replica, key: str) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(f"{replica.url}/v1/chat/completions", json=chat(), headers=headers) as resp:
        return resp.status, await resp.json()


async def admin(
    http: aiohttp.ClientSession, replica: Replica, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with http.request(method, f"{replica.url}{path}", headers=headers, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_a_key_created_rotated_or_deleted_on_one_replica_counts_on_the_other_at_once(
    pair: Callable[..., Awaitable[Pair]], http: aiohttp.ClientSession
) -> None:
    a, b = await pair()
    status, created = await admin(http, a, "POST", "/admin/clients", json={"name": "carol"})
    assert status == 201
    key = created["api_key"]
    assert (await post(http, b, key))[0] == 200

    status, rotated = await admin(http, a, "POST", "/admin/clients/carol/rotate")
    assert status == 200
    assert (await post(http, b, key))[0] == 401  # no waiting: the old key is dead everywhere
    assert (await post(http, b, rotated["api_key"]))[0] == 200

    assert (await admin(http, b, "POST", "/admin/clients/carol/disable"))[0] == 200
    status, body = await post(http, a, rotated["api_key"])
    assert status == 401 and "disabled" in body["error"]["message"]
    assert (await admin(http, a, "POST", "/admin/clients/carol/enable"))[0] == 200

    assert (await admin(http, a, "DELETE", "/admin/clients/carol"))[0] == 200
    assert (await post(http, b, rotated["api_key"]))[0] == 401
    _, listing = await admin(http, b, "GET", "/admin/clients")
    assert "carol" not in [c["name"] for c in listing["data"]]


async def test_runtime_keys_and_budgets_survive_restarting_both_replicas(
    pair: Callable[..., Awaitable[Pair]], http: aiohttp.ClientSession
) -> None:
    a, b = await pair()
    body = {"name": "carol", "budget": {"requests": 3, "period": "day"}}
    key = (await admin(http, a, "POST", "/admin/clients", json=body))[1]["api_key"]
    assert (await post(http, a, key))[0] == 200
    assert (await post(http, b, key))[0] == 200
    for replica in (a, b):
        replica.stop()
    await asyncio.gather(a.start(), b.start())
    assert (await post(http, b, key))[0] == 200
    status, refused = await post(http, a, key)
    assert status == 429 and refused["error"]["code"] == "insufficient_quota"


async def test_requests_budget_is_exact_under_50_concurrent_requests_across_replicas(
    pair: Callable[..., Awaitable[Pair]], http: aiohttp.ClientSession, upstream: FakeOpenAI
) -> None:
    a, b = await pair()
    body = {"name": "team", "budget": {"requests": 20, "period": "day"}}
    key = (await admin(http, a, "POST", "/admin/clients", json=body))[1]["api_key"]
    answers = await asyncio.gather(*(post(http, (a, b)[i % 2], key) for i in range(50)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 20 + [429] * 30
    assert len(upstream.seen) == 20
    _, row = await admin(http, b, "GET", "/admin/clients/team")
    assert row["used"]["requests"] == 20


async def test_a_config_client_budget_is_shared_by_both_replicas(
    pair: Callable[..., Awaitable[Pair]], http: aiohttp.ClientSession, upstream: FakeOpenAI
) -> None:
    a, b = await pair(clients=[{"name": "alice", "key": ALICE, "budget": {"requests": 4}}])
    statuses = [(await post(http, (a, b)[i % 2], ALICE))[0] for i in range(6)]
    assert statuses == [200] * 4 + [429] * 2


async def test_a_redis_outage_keeps_known_keys_working_and_refuses_changes(
    start_gateway: Any, upstream: FakeOpenAI
) -> None:
    server = PrivateRedis()
    await server.start()
    try:
        state = {"backend": "redis", "redis_url": server.url, "redis_timeout": "100ms"}
        gw = await start_gateway(base_config(upstream, accounts=1, state=state))
        status, created = await gw.admin("POST", "/admin/clients", json={"name": "carol"})
        assert status == 201
        key = created["api_key"]
        assert (await gw.post("/v1/chat/completions", chat(), key=key)).status == 200

        server.stop()
        for _ in range(2):  # the first call meets the outage, the next is served from memory
            response = await gw.post("/v1/chat/completions", chat(), key=key)
            assert response.status == 200, await response.text()
        assert (await gw.post("/v1/chat/completions", chat(), key=ALICE)).status == 200  # config keys too
        status, body = await gw.admin("POST", "/admin/clients", json={"name": "dave"})
        assert status == 503 and body["error"]["code"] == "state_unavailable"
        unknown = await gw.post("/v1/chat/completions", chat(), key="sk-pool-" + "y" * 43)
        assert unknown.status == 401
    finally:
        server.stop()
