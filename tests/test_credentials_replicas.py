"""A cookie pasted on one replica is in force on the other without a restart (Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ADMIN, ALICE, base_config, chat, until
from tests.fakes.monica import FakeMonica, Step
from tests.fakes.redis_server import REDIS_URL, redis_prefix
from tests.fakes.replicas import Replica, replica_pair

__all__ = ["redis_prefix"]  # the fixture

OLD, NEW = "sess-logged-out-0123456789", "sess-fresh-cookie-9876543210"


@pytest.fixture
async def pair(
    tmp_path: Path, monica: FakeMonica, redis_prefix: str
) -> AsyncIterator[tuple[Replica, Replica]]:
    config = base_config(accounts=0, logging={"level": "info"})
    config["accounts"] = [{"id": "monica-1", "provider": "monica", "cookie": OLD, "base_url": monica.url}]
    config["state"] = {
        "backend": "redis",
        "redis_url": REDIS_URL,
        "key_prefix": redis_prefix,
        "redis_timeout": "1s",
    }
    config["server"] = {"shutdown_grace": "1s"}
    async with replica_pair(config, tmp_path) as replicas:
        yield replicas


async def call(
    http: aiohttp.ClientSession, method: str, url: str, key: str = ADMIN, **kw: Any
) -> tuple[int, Any]:
    async with http.request(method, url, headers={"Authorization": f"Bearer {key}"}, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def row(http: aiohttp.ClientSession, replica: Replica) -> dict[str, Any]:
    _, body = await call(http, "GET", f"{replica.url}/admin/accounts")
    found: dict[str, Any] = body["data"][0]
    return found


async def test_a_cookie_pasted_on_one_replica_revives_the_account_on_both(pair, monica: FakeMonica):
    a, b = pair
    monica.script(OLD, *[Step("login")] * 5)
    async with aiohttp.ClientSession() as http:
        status, _ = await call(http, "POST", f"{b.url}/v1/chat/completions", ALICE, json=chat("gpt-4o"))
        assert status == 503  # the only account was logged out
        await until(lambda: _state_is(http, a, "invalid"))

        status, body = await call(
            http, "PUT", f"{a.url}/admin/accounts/monica-1/credential", json={"cookie": NEW}
        )
        assert status == 200 and body["state"] == "active"
        await until(lambda: _source_is(http, b, "admin"))
        assert (await row(http, b))["state"] == "active"
        status, _ = await call(http, "POST", f"{b.url}/v1/chat/completions", ALICE, json=chat("gpt-4o"))
        assert status == 200
        assert monica.sessions_seen()[-1] == NEW

    for replica in pair:  # the pasted cookie never reaches a log in clear
        replica.stop()
        assert NEW not in replica.log_path.read_text()


async def _state_is(http: aiohttp.ClientSession, replica: Replica, state: str) -> bool:
    return (await row(http, replica))["state"] == state


async def _source_is(http: aiohttp.ClientSession, replica: Replica, source: str) -> bool:
    return (await row(http, replica))["credential_source"] == source
