"""A reload applies the whole `pool` section without a restart: sticky conversations, scheduled
checks, rests and upstream timeouts (SIGHUP and POST /admin/reload share one path)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import GatewayFactory, Running, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, Step, error_step
from tests.test_sticky import Conversation, other_request

KEY_1 = "sk-upstream-1-secretvalue"


async def reload_with(gw: Running, tmp_path: Path, **pool: Any) -> None:
    """Change the `pool` section of the config file on disk, then reload."""
    path = tmp_path / "gateway.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["pool"] = {**raw.get("pool", {}), **pool}
    path.write_text(yaml.safe_dump(raw))
    status, body = await gw.admin("POST", "/admin/reload")
    assert status == 200, body


async def test_reload_turns_sticky_conversations_on_then_shortens_their_ttl(
    upstream: FakeOpenAI, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start_gateway(base_config(upstream, accounts=3), on_disk=True)
    talk = Conversation("You are terse.", "Plan a trip to Lyon.")
    assert len({await talk.turn(gw, upstream) for _ in range(3)}) == 3  # off: round robin spreads

    await reload_with(gw, tmp_path, sticky={"enabled": True, "ttl": "1h"})
    served = [await talk.turn(gw, upstream) for _ in range(10)]
    assert len(set(served)) == 1
    home = served[0]
    gw.clock.advance(30 * 60)  # within the hour
    assert await talk.turn(gw, upstream) == home

    await reload_with(gw, tmp_path, sticky={"enabled": True, "ttl": "10m"})
    assert await talk.turn(gw, upstream) == home  # remembered again, for 10 minutes now
    gw.clock.advance(11 * 60)
    await other_request(gw, 1)  # other traffic takes `home`'s turn of the round robin
    assert await talk.turn(gw, upstream) != home  # forgotten: the round robin chose

    await reload_with(gw, tmp_path, sticky={"enabled": False})
    assert len({await talk.turn(gw, upstream) for _ in range(3)}) == 3


async def test_reload_starts_scheduled_checks_and_changes_their_states(
    upstream: FakeOpenAI, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start_gateway(base_config(upstream, accounts=2), on_disk=True)
    upstream.script(KEY_1, error_step(401, "invalid_api_key"))
    await gw.client().chat.completions.create(**chat())  # acct-1 logged out, acct-2 answers
    assert (await gw.account("acct-1"))["state"] == "invalid"

    # its key works again upstream; the new schedule's first round (1 s) brings it back
    await reload_with(gw, tmp_path, health_check={"every": "1s", "states": ["invalid"]})
    await until(lambda: account_state(gw, "acct-1", "active"))

    await reload_with(gw, tmp_path, health_check={"every": "30m", "states": ["exhausted"]})
    upstream.script(KEY_1, error_step(401, "invalid_api_key"))
    await gw.client().chat.completions.create(**chat())
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "invalid"
    gw.clock.advance(3600)  # past any lock of the earlier schedule
    assert await gw.gateway.health.run_once() == []  # `invalid` is no longer checked


async def account_state(gw: Running, account: str, state: str) -> bool:
    return (await gw.account(account))["state"] == state


async def test_reload_applies_the_rest_after_a_rate_limit(
    upstream: FakeOpenAI, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start_gateway(base_config(upstream, accounts=2), on_disk=True)
    await reload_with(gw, tmp_path, cooldown="7s")
    upstream.script(KEY_1, error_step(429, "rate_limit_exceeded", "slow down"))  # no Retry-After
    await gw.client().chat.completions.create(**chat())
    row = await gw.account("acct-1")
    assert row["state"] == "cooling" and row["seconds_left"] == 7


async def test_reload_applies_a_shorter_first_byte_timeout_to_running_accounts(
    upstream: FakeOpenAI, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start_gateway(base_config(upstream, accounts=2), on_disk=True)  # 60 s by default
    await reload_with(gw, tmp_path, first_byte_timeout="300ms")  # the same accounts and providers
    silent = asyncio.Event()  # set only at the end: acct-1 never answers
    upstream.script(KEY_1, Step(hold=silent))
    try:
        reply = await gw.client(timeout=20).chat.completions.create(**chat())
        assert reply.choices[0].message.content  # acct-2 answered after acct-1's timeout
        assert (await gw.account("acct-1"))["failures"] == 1
    finally:
        silent.set()
