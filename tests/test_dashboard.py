"""The `/admin` dashboard in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN, Running, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, error_step

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"dashboard test cannot run in CI: {reason} (tests/prepare.sh installs chromium)")
    pytest.skip(f"!!! DASHBOARD NOT TESTED: {reason}; run `bash tests/prepare.sh` (apt-get install chromium)")


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """A fresh page in headless Chromium; console errors and CSP violations fail the test."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc})")
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.set_default_timeout(20_000)  # a deadline for a busy machine, not a pace
            yield page
        finally:
            await browser.close()
    # Expected: the 401 of a deliberately wrong key, the 400 of a refused reload.
    expected = ("status of 401", "status of 400")
    assert [e for e in errors if not any(x in e for x in expected)] == []


async def pool_in_three_states(gw: Running, upstream: FakeOpenAI) -> None:
    """acct-1 active, acct-2 cooling (429), acct-3 invalid (401)."""
    upstream.script(
        "sk-upstream-2-secretvalue", error_step(429, "rate_limit_exceeded", **{"Retry-After": "90"})
    )
    upstream.script("sk-upstream-3-secretvalue", error_step(401, "invalid_api_key"))
    client = gw.client()
    for _ in range(3):
        await client.chat.completions.create(**chat())
    await gw.client("sk-test-bob-0123456789").chat.completions.create(**chat())


async def sign_in(page: Any, url: str, key: str) -> None:
    await page.goto(f"{url}/admin")
    await page.get_by_label("The gateway's admin_key").fill(key)
    await page.get_by_role("button", name="Open dashboard").click()


async def row_state(page: Any, account: str) -> str:
    row = page.locator(f'#accounts tr[data-account="{account}"]')
    return str(await row.get_attribute("data-state"))


async def test_dashboard_shows_the_pool_and_disables_an_account(upstream, start_gateway, page):
    gw = await start_gateway(base_config(upstream))
    await pool_in_three_states(gw, upstream)

    await sign_in(page, gw.url, "not-the-admin-key")
    await page.get_by_text("That key was refused").wait_for()
    await sign_in(page, gw.url, ADMIN)
    await page.locator('#accounts tr[data-account="acct-3"]').wait_for()

    for account in ("acct-1", "acct-2", "acct-3"):
        assert await row_state(page, account) == (await gw.account(account))["state"]
    assert [await row_state(page, a) for a in ("acct-1", "acct-2", "acct-3")] == [
        "active",
        "cooling",
        "invalid",
    ]
    summary = await page.locator("#summary").inner_text()
    assert "3 accounts: 1 active, 1 cooling, 1 invalid" in summary
    cooling = page.locator('#accounts tr[data-account="acct-2"]')
    assert "1m 30s" in await cooling.inner_text() or "1m 29s" in await cooling.inner_text()
    assert "sk-u…ue" in await cooling.inner_text()  # the masked credential, never the key
    clients = await page.locator("#clients").inner_text()
    assert "alice" in clients and "bob" in clients
    assert await page.locator("#chart svg rect").count() >= 1

    await page.get_by_role("button", name="disable acct-1").click()
    await until(lambda: _state_is(gw, "acct-1", "disabled"))
    await page.locator('#accounts tr[data-account="acct-1"][data-state="disabled"]').wait_for()
    await page.get_by_role("button", name="enable acct-1").click()
    await until(lambda: _state_is(gw, "acct-1", "active"))
    await page.get_by_role("button", name="reset acct-3").click()
    await until(lambda: _state_is(gw, "acct-3", "active"))


async def _state_is(gw: Running, account: str, state: str) -> bool:
    return (await gw.account(account))["state"] == state


async def test_dashboard_fits_a_phone_and_reloads_config(upstream, start_gateway, page, tmp_path):
    gw = await start_gateway(base_config(upstream))
    await page.set_viewport_size({"width": 375, "height": 740})
    await sign_in(page, gw.url, ADMIN)
    await page.locator('#accounts tr[data-account="acct-1"]').wait_for()
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    assert await page.locator("#accounts thead").is_hidden()  # rows became cards

    # The inline config cannot be reloaded: the page says why instead of failing silently.
    await page.get_by_role("button", name="reload config").click()
    await page.get_by_text("Reload failed").wait_for()
    # A key kept in the tab survives a page reload.
    await page.reload()
    await page.locator('#accounts tr[data-account="acct-1"]').wait_for()
