"""`in_flight` in the admin API equals the leases held, on every replica, also after Redis faults.

Two gateway processes share a private redis-server; 24 clients keep both busy while Redis
hangs (SIGSTOP), comes back, dies and is started again. Once the load stops, every
replica must report 0 requests in flight for every account within a few lease-refresh
periods: the dashboard and `least_busy` read these numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ADMIN, ALICE, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, Step
from tests.fakes.redis_server import PrivateRedis
from tests.fakes.replicas import Replica

CLIENTS = 24
LEASE_TTL = 1.5  # seconds; replicas refresh leases (and re-read counts) every third of it


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    yield server
    if server.process is not None:
        with contextlib.suppress(ProcessLookupError):
            server.process.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
async def replicas(
    tmp_path: Path, upstream: FakeOpenAI, private_redis: PrivateRedis
) -> AsyncIterator[tuple[Replica, Replica]]:
    config = base_config(upstream, accounts=3, pool={"queue_timeout": "5s"})
    config["state"] = {
        "backend": "redis",
        "redis_url": private_redis.url,
        "redis_timeout": "500ms",  # a hung Redis is still found out at once; a busy one is no outage
        "lease_ttl": f"{LEASE_TTL}s",
    }
    config["server"] = {"shutdown_grace": "1s"}
    pair = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
    try:
        await asyncio.gather(*(r.start() for r in pair))
        yield pair
    finally:
        for replica in pair:
            replica.stop()


async def admin(http: aiohttp.ClientSession, replica: Replica, path: str) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with http.get(f"{replica.url}{path}", headers=headers) as resp:
        return await resp.json()


async def in_flight(http: aiohttp.ClientSession, replica: Replica) -> dict[str, int]:
    body = await admin(http, replica, "/admin/accounts")
    return {a["id"]: a["in_flight"] for a in body["data"]}


async def degraded(http: aiohttp.ClientSession, replica: Replica) -> bool:
    async with http.get(f"{replica.url}/readyz") as resp:
        return bool((await resp.json())["degraded"])


class Load:
    """Clients sending requests to both replicas in turn until told to stop."""

    def __init__(self, http: aiohttp.ClientSession, pair: tuple[Replica, Replica]) -> None:
        self.http = http
        self.pair = pair
        self.done = 0
        self.stopping = asyncio.Event()
        self.tasks = [asyncio.create_task(self._client(i)) for i in range(CLIENTS)]

    async def _client(self, index: int) -> None:
        headers = {"Authorization": f"Bearer {ALICE}"}
        turn = index
        while not self.stopping.is_set():
            url = f"{self.pair[turn % 2].url}/v1/chat/completions"
            turn += 1
            body = chat(stream=turn % 3 == 0)
            with contextlib.suppress(aiohttp.ClientError):
                async with self.http.post(url, json=body, headers=headers) as resp:
                    await resp.read()
            self.done += 1

    async def more(self, count: int) -> None:
        """Wait until `count` more requests have finished (progress under the current fault)."""
        target = self.done + count
        await until(lambda: self.done >= target, timeout=30.0)

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.gather(*self.tasks)


async def test_in_flight_returns_to_zero_on_every_replica_after_load_with_redis_faults(
    replicas: tuple[Replica, Replica],
    upstream: FakeOpenAI,
    private_redis: PrivateRedis,
) -> None:
    upstream.default = Step("slow", delay=0.01, text="one two three four five")
    process = private_redis.process
    assert process is not None
    async with aiohttp.ClientSession() as http:

        def all_degraded(expected: bool) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return all([await degraded(http, r) == expected for r in replicas])

            return check

        load = Load(http, replicas)
        try:
            await load.more(200)  # healthy Redis, both replicas busy

            process.send_signal(signal.SIGSTOP)  # Redis hangs under load
            await until(all_degraded(True), timeout=20.0)
            await load.more(100)
            process.send_signal(signal.SIGCONT)
            await until(all_degraded(False), timeout=20.0)
            await load.more(100)

            private_redis.stop()  # Redis dies and comes back empty
            await until(all_degraded(True), timeout=20.0)
            await load.more(100)
            await private_redis.start()
            process = private_redis.process
            await until(all_degraded(False), timeout=20.0)
            await load.more(200)
        finally:
            await load.stop()

        seen: list[dict[str, int]] = []

        async def idle() -> bool:
            seen[:] = [await in_flight(http, r) for r in replicas]
            return all(n == 0 for counts in seen for n in counts.values())

        # A few refresh periods (LEASE_TTL / 3), with room for a busy machine.
        with contextlib.suppress(AssertionError):
            await until(idle, timeout=LEASE_TTL * 4)
        zero = dict.fromkeys(["acct-1", "acct-2", "acct-3"], 0)
        assert seen == [zero, zero]
