"""The dashboard's daily-running controls in headless Chromium: paste a new cookie into a
logged-out account, press Test, see it active; the cookie never shows on the page."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN, Running, base_config, until
from tests.fakes.monica import FakeMonica, Step
from tests.test_dashboard import page, row_state, sign_in

__all__ = ["page"]  # the fixture

OLD, NEW = "sess-logged-out-0123456789", "sess-fresh-cookie-9876543210"


def monica_config(monica: FakeMonica) -> dict[str, Any]:
    config = base_config(accounts=0)
    config["accounts"] = [{"id": "monica-1", "provider": "monica", "cookie": OLD, "base_url": monica.url}]
    return config


async def _state_is(gw: Running, account: str, state: str) -> bool:
    return (await gw.account(account))["state"] == state


async def test_paste_a_new_cookie_then_test_the_account(monica: FakeMonica, start_gateway, page: Any) -> None:
    gw = await start_gateway(monica_config(monica))
    monica.script(OLD, Step("login"))
    await gw.admin("POST", "/admin/accounts/monica-1/test")
    await sign_in(page, gw.url, ADMIN)
    row = page.locator('#accounts tr[data-account="monica-1"]')
    await row.wait_for()
    assert await row_state(page, "monica-1") == "invalid"

    await page.get_by_role("button", name="paste cookie for monica-1").click()
    await page.get_by_role("textbox", name="New cookie for monica-1").fill(f"session_id={NEW}")
    await page.get_by_role("button", name="Save").click()
    await page.locator('#accounts tr[data-account="monica-1"][data-state="active"]').wait_for()
    assert "pasted" in await row.inner_text()
    assert (await gw.account("monica-1"))["credential_source"] == "admin"

    await page.get_by_role("button", name="test monica-1").click()
    await page.get_by_text("monica-1: test ok").wait_for()
    assert monica.sessions_seen()[-1] == NEW
    assert NEW not in await page.content()
    assert await page.locator("#credential").is_hidden()


async def test_an_empty_paste_is_refused_with_the_reason(
    monica: FakeMonica, start_gateway, page: Any
) -> None:
    gw = await start_gateway(monica_config(monica))
    await sign_in(page, gw.url, ADMIN)
    await page.locator('#accounts tr[data-account="monica-1"]').wait_for()
    await page.get_by_role("button", name="paste cookie for monica-1").click()
    await page.get_by_role("textbox", name="New cookie for monica-1").fill("   ")
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("the credential was not saved").wait_for()
    await until(lambda: _source_is(gw, "config"))
    await page.get_by_role("button", name="Cancel").click()
    assert await page.locator("#credential").is_hidden()


async def _source_is(gw: Running, source: str) -> bool:
    return (await gw.account("monica-1"))["credential_source"] == source
