"""Live credentials: an operator pastes a new cookie or key and the account works again,
without a restart or a file edit; the pasted secret never shows in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import base_config, chat
from tests.fakes.monica import FakeMonica, Step
from tests.fakes.openai_upstream import FakeOpenAI

OLD, NEW = "sess-logged-out-0123456789", "sess-fresh-cookie-9876543210"
NEW_KEY = "sk-pasted-key-abcdef0123456789"


def monica_config(monica: FakeMonica) -> dict[str, Any]:
    config = base_config(accounts=0)
    config["accounts"] = [{"id": "monica-1", "provider": "monica", "cookie": OLD, "base_url": monica.url}]
    return config


async def test_a_pasted_cookie_makes_an_invalid_account_active_and_is_used_at_once(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    monica.script(OLD, Step("login"))
    status, _ = await gw.admin("POST", "/admin/accounts/monica-1/test")
    assert status == 200
    assert (await gw.account("monica-1"))["state"] == "invalid"

    pasted = f"  Cookie: session_id={NEW};\r\n theme=dark  "  # as copied from the browser
    status, body = await gw.admin("PUT", "/admin/accounts/monica-1/credential", json={"cookie": pasted})
    assert status == 200, body
    assert body["state"] == "active"
    assert body["credential_source"] == "admin"
    assert body["credential_updated_at"] == gw.clock.now()
    assert NEW not in str(body) and body["credential"] != ""

    reply = await gw.client().chat.completions.create(**chat("gpt-4o"))
    assert reply.choices[0].message.content == "Hello from Monica!"
    assert monica.seen[-1].headers["cookie"] == f"session_id={NEW}; theme=dark"
    _, listing = await gw.admin("GET", "/admin/accounts")
    assert NEW not in str(listing)


async def test_the_accounts_list_says_the_config_credential_is_in_force_until_one_is_pasted(
    upstream, start_gateway
):
    gw = await start_gateway(base_config(upstream, accounts=1))
    row = await gw.account("acct-1")
    assert row["credential_source"] == "config"
    assert row["credential_updated_at"] is None
    assert "secretvalue" not in row["credential"]


async def test_a_pasted_key_survives_a_restart_until_the_config_changes_the_key(
    upstream: FakeOpenAI, start_gateway, tmp_path: Path
):
    raw = base_config(upstream, accounts=1)
    first = await start_gateway(raw)
    status, _ = await first.admin("PUT", "/admin/accounts/acct-1/credential", json={"api_key": NEW_KEY})
    assert status == 200
    await first.client().chat.completions.create(**chat())
    assert upstream.keys_seen()[-1] == NEW_KEY
    await first.runner.cleanup()
    snapshot = (tmp_path / "state.json").read_text()
    assert NEW_KEY not in snapshot and "credentials" in snapshot

    again = await start_gateway(raw)
    assert (await again.account("acct-1"))["credential_source"] == "admin"
    await again.client().chat.completions.create(**chat())
    assert upstream.keys_seen()[-1] == NEW_KEY
    await again.runner.cleanup()

    raw["accounts"][0]["api_key"] = "sk-config-rotated-0123456789"
    changed = await start_gateway(raw)
    assert (await changed.account("acct-1"))["credential_source"] == "config"
    await changed.client().chat.completions.create(**chat())
    assert upstream.keys_seen()[-1] == "sk-config-rotated-0123456789"


async def test_a_reload_that_changes_the_credential_replaces_the_pasted_one(
    upstream, start_gateway, tmp_path
):
    raw = base_config(upstream, accounts=1)
    gw = await start_gateway(raw, on_disk=True)
    await gw.admin("PUT", "/admin/accounts/acct-1/credential", json={"api_key": NEW_KEY})
    status, _ = await gw.admin("POST", "/admin/reload")  # same config: the pasted key stays
    assert status == 200
    assert (await gw.account("acct-1"))["credential_source"] == "admin"

    import yaml

    raw["accounts"][0]["api_key"] = "sk-config-rotated-0123456789"
    raw["state"] = {"path": str(tmp_path / "state.json")}
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(raw))
    await gw.admin("POST", "/admin/reload")
    assert (await gw.account("acct-1"))["credential_source"] == "config"
    await gw.client().chat.completions.create(**chat())
    assert upstream.keys_seen()[-1] == "sk-config-rotated-0123456789"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "api_key"),
        ({"api_key": 5}, "api_key"),
        ({"api_key": "   \n "}, "api_key"),
        ({"cookie": "abc"}, "api_key"),
        ({"api_key": "sk-a\x00b"}, "api_key"),
    ],
)
async def test_a_bad_credential_body_is_a_400_naming_the_field(upstream, start_gateway, body, param):
    gw = await start_gateway(base_config(upstream, accounts=1))
    status, answer = await gw.admin("PUT", "/admin/accounts/acct-1/credential", json=body)
    assert status == 400
    assert answer["error"]["param"] == param
    assert (await gw.account("acct-1"))["credential_source"] == "config"


async def test_a_credential_for_an_unknown_account_or_without_the_admin_key_is_refused(
    upstream, start_gateway
):
    gw = await start_gateway(base_config(upstream, accounts=1))
    status, answer = await gw.admin("PUT", "/admin/accounts/nope/credential", json={"api_key": NEW_KEY})
    assert status == 404 and answer["error"]["code"] == "account_not_found"
    async with gw.http.put(f"{gw.url}/admin/accounts/acct-1/credential", json={"api_key": NEW_KEY}) as resp:
        assert resp.status == 401
    async with gw.http.put(
        f"{gw.url}/admin/accounts/acct-1/credential",
        data=b"{not json",
        headers={"Authorization": f"Bearer {base_config()['admin_key']}"},
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_json"


async def test_a_pasted_key_sealed_under_another_admin_key_is_not_used(upstream: FakeOpenAI, start_gateway):
    raw = base_config(upstream, accounts=1)
    first = await start_gateway(raw)
    await first.admin("PUT", "/admin/accounts/acct-1/credential", json={"api_key": NEW_KEY})
    await first.runner.cleanup()

    raw["admin_key"] = "another-admin-key-0123456789"
    again = await start_gateway(raw)
    headers = {"Authorization": "Bearer another-admin-key-0123456789"}
    async with again.http.get(f"{again.url}/admin/accounts", headers=headers) as resp:
        row = (await resp.json())["data"][0]
    assert row["credential_source"] == "config"
    await again.client().chat.completions.create(**chat())
    assert upstream.keys_seen()[-1] == "sk-upstream-1-secretvalue"
