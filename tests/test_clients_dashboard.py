"""The dashboard's Clients panel in real headless Chromium: create, use, rotate, delete (issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

import openai
import pytest

from tests.conftest import ADMIN, base_config, chat, until
from tests.test_dashboard import page, sign_in

__all__ = ["page"]  # the fixture

DOCS = Path(__file__).parent.parent / "docs"


def screenshot_path(tmp_path: Path) -> Path:
    """docs/dashboard-clients.png with POOL_PROXY_SCREENSHOTS=1, else a throwaway file."""
    return DOCS if os.environ.get("POOL_PROXY_SCREENSHOTS") == "1" else tmp_path


async def test_clients_panel_creates_rotates_and_deletes_a_key(upstream, start_gateway, page, tmp_path):
    gw = await start_gateway(base_config(upstream, prices={"gpt-4o*": {"input": 5, "output": 15}}))
    page.on("dialog", lambda dialog: dialog.accept())
    await sign_in(page, gw.url, ADMIN)
    await page.locator('#team-clients tr[data-client="alice"]').wait_for()
    assert "config file" in await page.locator('#team-clients tr[data-client="alice"]').inner_text()

    await page.get_by_label("client name").fill("dana")
    await page.get_by_label("tokens budget").fill("2000")
    await page.get_by_label("models").fill("gpt-4o*")
    await page.get_by_role("button", name="Create client").click()
    await page.locator("#new-key:not([hidden])").wait_for()
    key = await page.get_by_label("new API key").input_value()
    assert key.startswith("sk-pool-")
    await page.get_by_role("button", name="Copy").click()
    await page.get_by_text("Copied").wait_for()

    reply = await gw.client(key).chat.completions.create(**chat())
    assert reply.usage.total_tokens == 18
    row = page.locator('#team-clients tr[data-client="dana"]')
    await row.get_by_text("18 / 2,000 tokens per day").wait_for(timeout=10_000)
    assert await row.get_by_role("progressbar").get_attribute("aria-valuenow") == "18"
    assert "≈ $0.0002 this day" in await row.inner_text()  # 11 * $5 + 7 * $15 per million tokens
    costs = page.locator("#costs")
    await costs.get_by_text("by model: gpt-4o-mini $0.0002").wait_for()
    assert "by account: acct-" in await costs.inner_text()
    assert key not in await page.locator("#team-clients").inner_text()  # the list shows a mask
    await page.get_by_role("button", name="Done").click()
    shot = screenshot_path(tmp_path) / "dashboard-clients.png"
    await page.locator("#team").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    await page.get_by_role("button", name="rotate client dana").click()
    await page.locator("#new-key:not([hidden])").wait_for()
    rotated = await page.get_by_label("new API key").input_value()
    assert rotated != key and rotated.startswith("sk-pool-")
    with pytest.raises(openai.AuthenticationError):
        await gw.client(key).chat.completions.create(**chat())
    await gw.client(rotated).chat.completions.create(**chat())

    await page.get_by_role("button", name="edit client dana").click()
    await page.get_by_label("requests budget").fill("50")
    await page.get_by_role("button", name="Save changes").click()
    await row.get_by_text("2 / 50 requests per day").wait_for()  # the refused old key did not count
    _, stored = await gw.admin("GET", "/admin/clients/dana")
    assert stored["budget"] == {"period": "day", "requests": 50, "tokens": 2000}

    await page.get_by_role("button", name="disable client dana").click()
    await page.get_by_role("button", name="enable client dana").wait_for()
    with pytest.raises(openai.AuthenticationError):
        await gw.client(rotated).chat.completions.create(**chat())

    await page.get_by_role("button", name="delete client dana").click()
    await row.wait_for(state="detached")
    await until(lambda: _gone(gw))


async def _gone(gw) -> bool:
    status, _ = await gw.admin("GET", "/admin/clients/dana")
    return status == 404


async def test_the_me_page_shows_a_key_holder_their_budget(upstream, start_gateway, page):
    raw = base_config(upstream)
    raw["clients"][0]["budget"] = {"tokens": 2000, "period": "day"}
    gw = await start_gateway(raw)
    await gw.client().chat.completions.create(**chat())
    await page.goto(f"{gw.url}/me")
    await page.get_by_label("Paste the key").fill("sk-wrong")
    await page.get_by_role("button", name="Show my standing").click()
    await page.get_by_text("matches no client").wait_for()
    await page.get_by_label("Paste the key").fill(raw["clients"][0]["key"])
    await page.get_by_role("button", name="Show my standing").click()
    await page.get_by_text("18 of 2,000 this day").wait_for()
    assert await page.get_by_role("progressbar").get_attribute("aria-valuenow") == "18"
