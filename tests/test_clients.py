"""Runtime client keys through the admin API, used by the real `openai` SDK (issue 12)."""

from __future__ import annotations

import logging
from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from tests.conftest import ADMIN, ALICE, BOB, base_config, chat

CREATED = {"name": "carol", "models": ["gpt-4o*"], "note": "new teammate"}


async def create(gw, body=None):
    status, created = await gw.admin("POST", "/admin/clients", json=body or CREATED)
    assert status == 201, created
    return created


async def test_create_use_rotate_disable_delete_with_the_sdk(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    created = await create(gw)
    key = created["api_key"]
    assert key.startswith("sk-pool-") and len(key) >= 48
    assert created["key"] == f"sk-pool-…{key[-4:]}" and created["source"] == "runtime"

    reply = await gw.client(key).chat.completions.create(**chat())
    assert reply.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):  # outside its allow-list
        await gw.client(key).chat.completions.create(**chat(model="o3"))

    status, rotated = await gw.admin("POST", "/admin/clients/carol/rotate")
    assert status == 200 and rotated["api_key"] != key
    with pytest.raises(openai.AuthenticationError) as old:
        await gw.client(key).chat.completions.create(**chat())
    assert "matches no client" in old.value.message
    new_key = rotated["api_key"]
    await gw.client(new_key).chat.completions.create(**chat())

    assert (await gw.admin("POST", "/admin/clients/carol/disable"))[0] == 200
    with pytest.raises(openai.AuthenticationError) as disabled:
        await gw.client(new_key).chat.completions.create(**chat())
    assert "disabled" in disabled.value.message
    with pytest.raises(openai.AuthenticationError):
        await gw.client(new_key).models.list()
    assert (await gw.admin("POST", "/admin/clients/carol/enable"))[0] == 200
    await gw.client(new_key).chat.completions.create(**chat())

    assert (await gw.admin("DELETE", "/admin/clients/carol"))[0] == 200
    with pytest.raises(openai.AuthenticationError):
        await gw.client(new_key).chat.completions.create(**chat())
    status, listing = await gw.admin("GET", "/admin/clients")
    assert [c["name"] for c in listing["data"]] == ["alice", "bob"]
    assert (await gw.admin("DELETE", "/admin/clients/carol"))[0] == 404


async def test_listing_shows_config_and_runtime_clients_with_their_standing(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    key = (await create(gw, {"name": "carol", "budget": {"requests": 10, "period": "day"}}))["api_key"]
    await gw.client(key).chat.completions.create(**chat())
    await gw.client(ALICE).chat.completions.create(**chat())
    status, listing = await gw.admin("GET", "/admin/clients")
    assert status == 200
    rows = {c["name"]: c for c in listing["data"]}
    assert rows["alice"]["source"] == "config" and rows["carol"]["source"] == "runtime"
    assert rows["carol"]["budget"] == {"period": "day", "requests": 10}
    assert rows["carol"]["used"]["requests"] == 1 and rows["carol"]["used"]["tokens"] == 18
    assert rows["alice"]["used"]["requests"] == 1
    assert rows["carol"]["last_used_at"] == pytest.approx(gw.clock.now(), abs=1)
    midnight = (int(gw.clock.now()) // 86400 + 1) * 86400  # UTC by default
    assert rows["carol"]["resets_at"] == midnight
    assert rows["alice"]["key"] == "sk-…6789" and rows["carol"]["key"] == f"sk-pool-…{key[-4:]}"
    assert ALICE not in orjson.dumps(listing).decode() and key not in orjson.dumps(listing).decode()


async def test_config_clients_are_read_only_and_keep_their_names(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream), on_disk=True)
    status, body = await gw.admin("PATCH", "/admin/clients/alice", json={"note": "x"})
    assert status == 409 and "gateway.yaml" in body["error"]["message"]
    assert (await gw.admin("POST", "/admin/clients/bob/rotate"))[0] == 409
    assert (await gw.admin("DELETE", "/admin/clients/alice"))[0] == 409
    status, body = await gw.admin("POST", "/admin/clients", json={"name": "alice"})
    assert status == 409 and body["error"]["param"] == "name"
    await create(gw)
    status, body = await gw.admin("POST", "/admin/clients", json={"name": "carol"})
    assert status == 409 and "already exists" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "x", "budget": {"requests": 5, "period": "week"}}, "budget.period"),
        ({"name": "x", "budget": {"tokens": -1}}, "budget.tokens"),
        ({"name": "x", "budget": {"period": "day"}}, "budget"),
        ({"name": "x", "expires_at": "next tuesday"}, "expires_at"),
        ({"name": "x", "rate_limit": {"rps": 1, "rpm": 2}}, "rate_limit"),
        ({"name": "x", "models": "gpt-4o", "colour": "red"}, "colour"),
        ([1, 2], ""),
    ],
)
async def test_bad_client_bodies_get_a_400_naming_the_field(upstream, start_gateway, body, param):
    gw = await start_gateway(base_config(upstream))
    status, answer = await gw.admin("POST", "/admin/clients", json=body)
    assert status == 400, answer
    assert answer["error"]["param"] == param and answer["error"]["code"] == "invalid_request"
    async with gw.http.post(
        f"{gw.url}/admin/clients", data=b"{not json", headers={"Authorization": f"Bearer {ADMIN}"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"


async def test_a_word_where_a_number_belongs_is_named_in_plain_words(upstream, start_gateway):
    """Not Python's `invalid literal for int() with base 10`, and no second error claiming
    the budget or rate limit was left out when it was only mistyped."""
    gw = await start_gateway(base_config(upstream))
    for body, message in (
        ({"name": "x", "budget": {"tokens": "lots"}}, "budget.tokens: must be a whole number"),
        ({"name": "x", "rate_limit": {"rpm": "fast"}}, "rate_limit.rpm: must be a positive number"),
    ):
        status, answer = await gw.admin("POST", "/admin/clients", json=body)
        assert status == 400, answer
        assert answer["error"]["message"] == message
        assert answer["error"]["param"] == message.split(":")[0]


async def test_patch_changes_limits_and_null_clears_them(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    key = (await create(gw))["api_key"]
    status, body = await gw.admin(
        "PATCH",
        "/admin/clients/carol",
        json={
            "models": None,
            "rate_limit": {"rpm": 60},
            "budget": {"tokens": 2000},
            "expires_at": "2030-01-01",
        },
    )
    assert status == 200, body
    assert body["models"] is None and body["rate_limit"] == {"rps": 1.0, "burst": 60}
    assert body["budget"] == {"period": "day", "tokens": 2000} and body["expires_at"] == 1893456000
    await gw.client(key).chat.completions.create(**chat(model="gpt-4o"))
    assert (await gw.admin("PATCH", "/admin/clients/nobody", json={}))[0] == 404


async def test_an_expired_key_is_refused_with_a_message_that_says_so(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    soon = gw.clock.now() + 3600
    key = (await create(gw, {"name": "temp", "expires_at": soon}))["api_key"]
    await gw.client(key).chat.completions.create(**chat())
    gw.clock.advance(3601)
    with pytest.raises(openai.AuthenticationError) as info:
        await gw.client(key).chat.completions.create(**chat())
    assert info.value.code == "invalid_api_key" and "expired" in info.value.message
    with pytest.raises(openai.AuthenticationError) as unknown:
        await gw.client("sk-pool-" + "x" * 43).chat.completions.create(**chat())
    assert "expired" not in unknown.value.message  # an unknown key learns nothing


async def test_config_client_expiry_applies_too(upstream, start_gateway):
    raw = base_config(upstream)
    raw["clients"][1]["expires_at"] = "2020-01-01T00:00:00"  # no offset: UTC
    gw = await start_gateway(raw)
    with pytest.raises(openai.AuthenticationError) as info:
        await gw.client(BOB).chat.completions.create(**chat())
    assert "expired" in info.value.message
    await gw.client(ALICE).chat.completions.create(**chat())


async def test_runtime_clients_survive_a_restart(upstream, start_gateway, tmp_path: Path):
    raw = base_config(upstream)
    gw = await start_gateway(raw)
    key = (await create(gw, {"name": "carol", "budget": {"requests": 5}}))["api_key"]
    await gw.client(key).chat.completions.create(**chat())
    await gw.runner.cleanup()  # a clean stop writes the snapshot

    snapshot = (tmp_path / "state.json").read_text()
    assert "carol" in snapshot and key not in snapshot
    again = await start_gateway(raw, gw.clock)
    await again.client(key).chat.completions.create(**chat())
    _, row = await again.admin("GET", "/admin/clients/carol")
    assert row["used"]["requests"] == 2


async def test_keys_never_reach_logs_admin_answers_metrics_or_the_snapshot(
    upstream, start_gateway, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG, logger="pool_proxy")
    gw = await start_gateway(base_config(upstream))
    created = await create(gw)
    key = created["api_key"]
    await gw.client(key).chat.completions.create(**chat())
    rotated = (await gw.admin("POST", "/admin/clients/carol/rotate"))[1]["api_key"]
    await gw.client(rotated).chat.completions.create(**chat())
    with pytest.raises(openai.AuthenticationError):
        await gw.client(key).chat.completions.create(**chat())
    seen = []
    for path in ("/admin/clients", "/admin/clients/carol", "/admin/usage", "/admin/accounts"):
        seen.append(orjson.dumps((await gw.admin("GET", path))[1]).decode())
    seen.append(
        orjson.dumps((await gw.admin("PATCH", "/admin/clients/carol", json={"note": "n"}))[1]).decode()
    )
    async with gw.http.get(f"{gw.url}/metrics") as resp:
        metrics = await resp.text()
    assert 'client="carol"' in metrics and "pool_proxy_client_changes" in metrics
    async with gw.http.get(f"{gw.url}/v1/me", headers={"Authorization": f"Bearer {rotated}"}) as resp:
        seen.append(await resp.text())
    await gw.runner.cleanup()
    snapshot = (tmp_path / "state.json").read_text()
    logs = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert "client changed" in logs
    for where, text in (
        ("admin", "\n".join(seen)),
        ("metrics", metrics),
        ("snapshot", snapshot),
        ("logs", logs),
    ):
        for secret in (key, rotated, key[8:20], rotated[8:20]):
            assert secret not in text, f"a key leaked into {where}"


async def test_claude_code_style_clients_use_runtime_keys_and_hear_of_their_budget(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, model_aliases={"claude-*": "gpt-4o-mini"}))
    body = {"name": "coder", "budget": {"requests": 1}}
    key = (await gw.admin("POST", "/admin/clients", json=body))[1]["api_key"]
    async with anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0) as client:
        ask = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
        message = await client.messages.create(**ask)
        assert message.content[0].type == "text"
        with pytest.raises(anthropic.RateLimitError) as info:  # in Anthropic's own envelope
            await client.messages.create(**ask)
        assert "budget of 1 request per day" in info.value.message
        assert info.value.response.headers["retry-after"]
        await gw.admin("POST", "/admin/clients/coder/rotate")
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(**ask)
