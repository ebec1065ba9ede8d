"""Rests end on time and follow the upstream's hints; each change is logged with its reason."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tests.conftest import base_config, chat
from tests.fakes.openai_upstream import error_step

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in range(1, 4)}


async def test_exhausted_account_comes_back_after_its_rest(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, "insufficient_quota", "You exceeded your current quota"))
    gw = await start_gateway(base_config(upstream, accounts=2, pool={"exhausted_for": "1h"}))
    await gw.client().chat.completions.create(**chat())  # acct-1 is out of quota; acct-2 answers
    account = await gw.account("acct-1")
    assert account["state"] == "exhausted" and account["seconds_left"] == pytest.approx(3600)

    gw.clock.advance(3599)  # not yet: every request goes to acct-2
    before = len(upstream.seen)
    for _ in range(4):
        await gw.client().chat.completions.create(**chat())
    assert upstream.keys_seen()[before:] == [KEY[2]] * 4

    gw.clock.advance(2)  # the rest is over
    before = len(upstream.seen)
    for _ in range(4):
        await gw.client().chat.completions.create(**chat())
    assert KEY[1] in upstream.keys_seen()[before:]
    assert (await gw.account("acct-1"))["state"] == "active"


async def test_retry_after_as_an_http_date_rests_the_account_until_then(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=2))
    until = datetime.fromtimestamp(gw.clock.now() + 150, UTC)
    header = format_datetime(until, usegmt=True)  # e.g. "Fri, 15 Jan 2027 08:02:30 GMT"
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", **{"Retry-After": header}))
    await gw.client().chat.completions.create(**chat())
    account = await gw.account("acct-1")
    assert account["state"] == "cooling" and account["seconds_left"] == pytest.approx(150, abs=1)
    gw.clock.advance(149)
    for _ in range(3):
        await gw.client().chat.completions.create(**chat())
    assert upstream.keys_seen().count(KEY[1]) == 1  # still resting
    gw.clock.advance(2)
    before = len(upstream.seen)
    for _ in range(3):
        await gw.client().chat.completions.create(**chat())
    assert KEY[1] in upstream.keys_seen()[before:]
    assert (await gw.account("acct-1"))["state"] == "active"


async def test_state_change_log_line_names_the_account_states_and_reason(upstream, start_gateway, caplog):
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", "Slow down", **{"Retry-After": "30"}))
    upstream.script(KEY[2], error_step(401, "invalid_api_key", "Incorrect API key provided"))
    gw = await start_gateway(base_config(upstream, accounts=3))
    with caplog.at_level(logging.INFO):
        await gw.client().chat.completions.create(**chat())  # acct-1 rests, acct-2 is refused, acct-3
        gw.clock.advance(31)
        for _ in range(3):  # acct-1's rest ended: it serves again
            await gw.client().chat.completions.create(**chat())
    changes = [r for r in caplog.records if r.getMessage() == "account state changed"]
    seen = {(r.account, r.to): r for r in changes}  # type: ignore[attr-defined]
    cooling, invalid = seen[("acct-1", "cooling")], seen[("acct-2", "invalid")]
    assert cooling.levelno == logging.WARNING and getattr(cooling, "from") == "active"
    assert "429" in cooling.reason  # type: ignore[attr-defined]
    assert "401" in invalid.reason or "invalid_api_key" in invalid.reason  # type: ignore[attr-defined]
    back = seen[("acct-1", "active")]
    assert back.levelno == logging.INFO and getattr(back, "from") == "cooling"
    assert "secretvalue" not in caplog.text
