"""Issue 13's "done when", end to end: two replicas share one Monica account; its cookie is
logged out; the operator gets one webhook message, pastes a fresh cookie into the dashboard
of one replica, presses Test, and the account is active on both, without a restart."""

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
from tests.fakes.webhook import FakeWebhook
from tests.test_dashboard import page, sign_in

__all__ = ["page", "redis_prefix"]  # the fixtures

OLD, NEW = "sess-logged-out-0123456789", "sess-fresh-cookie-9876543210"


@pytest.fixture
async def pair(
    tmp_path: Path, monica: FakeMonica, webhook: FakeWebhook, redis_prefix: str
) -> AsyncIterator[tuple[Replica, Replica]]:
    config = base_config(accounts=0, notify={"webhook": webhook.hook_url}, logging={"level": "info"})
    config["accounts"] = [{"id": "monica-1", "provider": "monica", "cookie": OLD, "base_url": monica.url}]
    # A redis_timeout a loaded machine cannot mistake for an outage: degraded replicas apply
    # changes locally, and each would then announce the same recovery (one alert is asserted).
    config["state"] = {
        "backend": "redis",
        "redis_url": REDIS_URL,
        "key_prefix": redis_prefix,
        "redis_timeout": "2s",
    }
    config["server"] = {"shutdown_grace": "1s"}
    async with replica_pair(config, tmp_path) as replicas:
        yield replicas


async def account(http: aiohttp.ClientSession, replica: Replica) -> dict[str, Any]:
    async with http.get(
        f"{replica.url}/admin/accounts", headers={"Authorization": f"Bearer {ADMIN}"}
    ) as resp:
        found: dict[str, Any] = (await resp.json())["data"][0]
        return found


async def test_logged_out_cookie_alert_paste_test_active_on_both_replicas(
    pair, monica: FakeMonica, webhook: FakeWebhook, page: Any
) -> None:
    a, b = pair
    monica.script(OLD, Step("login"))
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {ALICE}"}
        async with http.post(f"{b.url}/v1/chat/completions", json=chat("gpt-4o"), headers=headers) as resp:
            assert resp.status == 503

        await until(lambda: webhook.events() == ["invalid", "pool_empty"])
        alert = webhook.received[0]
        assert alert["account"] == "monica-1" and "monica-1" in alert["text"]
        assert OLD not in str(alert)

        await sign_in(page, a.url, ADMIN)
        await page.locator('#accounts tr[data-account="monica-1"][data-state="invalid"]').wait_for()
        await page.get_by_role("button", name="paste cookie for monica-1").click()
        await page.get_by_role("textbox", name="New cookie for monica-1").fill(NEW)
        await page.get_by_role("button", name="Save").click()
        await page.locator('#accounts tr[data-account="monica-1"][data-state="active"]').wait_for()
        await page.get_by_role("button", name="test monica-1").click()
        await page.get_by_text("monica-1: test ok").wait_for()

        async def active_on_b() -> bool:
            row = await account(http, b)
            return bool(row["state"] == "active" and row["credential_source"] == "admin")

        await until(active_on_b)
        async with http.post(f"{b.url}/v1/chat/completions", json=chat("gpt-4o"), headers=headers) as resp:
            assert resp.status == 200
        assert monica.sessions_seen()[-2:] == [NEW, NEW]  # the test, then b's request
        await until(lambda: "recovered" in webhook.events(), timeout=15)
        assert webhook.events()[:2] == ["invalid", "pool_empty"]
        assert webhook.events().count("recovered") == 1
