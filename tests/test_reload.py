"""Reloading accounts while serving: streams continue, state survives (issue 3 §7)."""

from __future__ import annotations

import asyncio

import yaml

from tests.conftest import base_config, chat, until
from tests.fakes.openai_upstream import Step, error_step

KEY1, KEY2 = "sk-upstream-1-secretvalue", "sk-upstream-2-secretvalue"


async def test_reload_keeps_streams_and_state_and_applies_changes(upstream, start_gateway, tmp_path):
    accounts_file = tmp_path / "accounts.yaml"
    raw = base_config(upstream, accounts=3)
    accounts = raw.pop("accounts")
    accounts_file.write_text(yaml.safe_dump(accounts))
    raw["accounts_file"] = str(accounts_file)
    upstream.script(KEY2, error_step(401, "invalid_api_key"))
    gw = await start_gateway(raw, on_disk=True)

    while KEY2 not in upstream.keys_seen():  # round robin reaches acct-2, which is logged out
        await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-2"))["state"] == "invalid"

    # the stream sends its first word, then stays open until after the reload
    rest = asyncio.Event()
    held = Step(text="one two three four five", hold=rest, hold_after=1)
    upstream.script(KEY1, held)
    upstream.script("sk-upstream-3-secretvalue", held)
    resp = await gw.post("/v1/chat/completions", chat(stream=True))
    first_account = resp.headers["x-pool-proxy-account"]
    await until(lambda: upstream.held == 1)

    accounts = [a for a in accounts if a["id"] != "acct-3"]
    accounts[1]["api_key"] = "sk-upstream-2-newsecretvalue"
    accounts_file.write_text(yaml.safe_dump(accounts))
    status, body = await gw.admin("POST", "/admin/reload")
    assert status == 200 and body["removed"] == ["acct-3"]
    assert upstream.held == 1  # the stream is still open, across the reload

    rest.set()
    raw_stream = await resp.read()  # the open stream finished normally
    assert raw_stream.endswith(b"data: [DONE]\n\n") and b"upstream_error" not in raw_stream
    assert b'" five"' in raw_stream
    assert first_account in ("acct-1", "acct-3")

    assert (await gw.account("acct-2"))["state"] == "active"  # new credential clears invalid
    _, listing = await gw.admin("GET", "/admin/accounts")
    assert [a["id"] for a in listing["data"]] == ["acct-1", "acct-2"]
    before = len(upstream.seen)
    for _ in range(4):
        await gw.client().chat.completions.create(**chat())
    assert "sk-upstream-3-secretvalue" not in upstream.keys_seen()[before:]
    await until(lambda: all(gw.gateway.store.in_flight(a) == 0 for a in ("acct-1", "acct-2")))


async def test_bad_reload_keeps_the_running_config(upstream, start_gateway, tmp_path):
    gw = await start_gateway(base_config(upstream), on_disk=True)
    (tmp_path / "gateway.yaml").write_text("accounts: [{id: x, provider: nope}]\n")
    status, body = await gw.admin("POST", "/admin/reload")
    assert status == 400 and "accounts[0].provider" in body["error"]["message"]
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content


async def test_reload_during_many_open_streams_loses_none(upstream, start_gateway):
    rest = asyncio.Event()
    upstream.default = Step(text="a b c d e f", hold=rest, hold_after=1)  # open until reloaded
    gw = await start_gateway(base_config(upstream), on_disk=True)

    async def one() -> str:
        stream = await gw.client().chat.completions.create(**chat(), stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    tasks = [asyncio.create_task(one()) for _ in range(8)]
    await until(lambda: upstream.held == 8)
    status, _ = await gw.admin("POST", "/admin/reload")
    assert status == 200
    rest.set()
    assert await asyncio.gather(*tasks) == ["a b c d e f"] * 8
