"""Which accounts a request may reach: the `random` strategy, and what /v1/models offers."""

from __future__ import annotations

from collections import Counter

import openai
import pytest

from tests.conftest import base_config, chat
from tests.fakes.openai_upstream import error_step

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in range(1, 5)}


async def test_random_strategy_spreads_requests_by_weight_in_no_fixed_order(upstream, start_gateway):
    raw = base_config(upstream, accounts=3, pool={"strategy": "random"})
    raw["accounts"][0]["weight"] = 3  # acct-1: 3/5 of the traffic, the others 1/5 each
    gw = await start_gateway(raw)
    client = gw.client()
    for _ in range(150):
        await client.chat.completions.create(**chat())
    keys = upstream.keys_seen()
    counts = Counter(keys)
    # Binomial(150, 0.6) and (150, 0.2): these bounds are more than 5 standard deviations
    # wide, so a fair random choice fails them about once in a million runs.
    assert 55 <= counts[KEY[1]] <= 125
    assert 5 <= counts[KEY[2]] <= 58 and 5 <= counts[KEY[3]] <= 58
    # round robin would repeat one pattern; a random pick does not
    assert len({tuple(keys[i : i + 5]) for i in range(0, 150, 5)}) > 1


async def test_models_leave_out_invalid_and_disabled_accounts(upstream, start_gateway):
    raw = base_config(upstream, accounts=4)
    for i, entry in enumerate(raw["accounts"], start=1):
        entry["models"] = [f"model-{i}"]
    upstream.script(KEY[1], error_step(401, "invalid_api_key", "Incorrect API key provided"))
    upstream.script(KEY[3], error_step(429, "rate_limit_exceeded", **{"Retry-After": "60"}))
    gw = await start_gateway(raw)
    client = gw.client()
    assert sorted([m.id async for m in client.models.list()]) == ["model-1", "model-2", "model-3", "model-4"]

    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(**chat("model-1"))  # acct-1 is logged out
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(**chat("model-3"))  # acct-3 rests for a minute
    await gw.admin("POST", "/admin/accounts/acct-2/disable")
    states = {a: (await gw.account(a))["state"] for a in ("acct-1", "acct-2", "acct-3")}
    assert states == {"acct-1": "invalid", "acct-2": "disabled", "acct-3": "cooling"}

    # a resting account will serve again, so its model stays listed; the others will not
    assert sorted([m.id async for m in client.models.list()]) == ["model-3", "model-4"]
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("model-2")

    await gw.admin("POST", "/admin/accounts/acct-2/enable")
    await gw.admin("POST", "/admin/accounts/acct-1/reset")
    assert sorted([m.id async for m in client.models.list()]) == ["model-1", "model-2", "model-3", "model-4"]
