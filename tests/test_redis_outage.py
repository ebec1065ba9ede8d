"""A Redis outage degrades the gateway to local state instead of failing or hanging it."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Running, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.redis_server import PrivateRedis

# Long enough that a healthy Redis on a busy machine never looks like an outage: a killed
# Redis refuses connections at once, so the outage does not wait on it anyway.
REDIS_TIMEOUT = 2.0
# A request during the outage costs at most a few redis_timeouts before it is served from
# local state, plus the upstream's answer with room for a busy machine. A gateway that
# waited on the dead Redis without its timeout would hang for good.
NO_HANG = REDIS_TIMEOUT * 3 + 5.0


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    yield server
    server.stop()


async def ask(gateway: Running) -> float:
    """One chat request; its latency in seconds (it must succeed)."""
    started = time.monotonic()
    response = await gateway.post("/v1/chat/completions", chat())
    assert response.status == 200, await response.text()
    await response.read()
    return time.monotonic() - started


async def readiness(gateway: Running) -> dict[str, Any]:
    async with gateway.http.get(f"{gateway.url}/readyz") as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def test_requests_keep_working_through_a_redis_outage_and_state_is_shared_again(
    start_gateway: GatewayFactory,
    upstream: FakeOpenAI,
    private_redis: PrivateRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = {"backend": "redis", "redis_url": private_redis.url, "redis_timeout": f"{REDIS_TIMEOUT}s"}
    config = base_config(upstream, accounts=2, state=state)
    a, b = await start_gateway(config), await start_gateway(config)
    caplog.set_level(logging.WARNING, logger="pool_proxy.state")
    for gateway in (a, b):
        gateway.gateway.store.retry_interval = 0.2  # type: ignore[attr-defined]
        await ask(gateway)
        assert (await readiness(gateway))["degraded"] is False

    private_redis.stop()
    for gateway in (a, b):
        for _ in range(3):
            assert await ask(gateway) < NO_HANG
        body = await readiness(gateway)
        assert body["degraded"] is True and body["status"] == "ready"
    outages = [r for r in caplog.records if r.getMessage().startswith("redis unreachable")]
    assert len(outages) == 2  # logged once per replica and outage, not once per request
    # A change made while Redis is away stays local for now ...
    status, _ = await a.admin("POST", "/admin/accounts/acct-1/disable")
    assert status == 200
    assert (await b.account("acct-1"))["state"] == "active"

    await private_redis.start()  # same port, empty: it lost everything
    for gateway in (a, b):

        async def recovered(gateway: Running = gateway) -> bool:
            return (await readiness(gateway))["degraded"] is False

        await until(recovered)
    # ... and is pushed to Redis on resynchronisation, so B sees it now.
    await until(lambda: b.gateway.store.status("acct-1").state.value == "disabled")
    upstream.seen.clear()
    for _ in range(3):
        await ask(b)
    assert set(upstream.keys_seen()) == {"sk-upstream-2-secretvalue"}
    # State is shared again in both directions.
    await b.admin("POST", "/admin/accounts/acct-1/enable")
    await until(lambda: a.gateway.store.status("acct-1").state.value == "active")
