"""The account test (admin Test button, `check --probe`): one real request through one
account, whatever the pool would choose, with its outcome applied like any other."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from tests.conftest import base_config, chat, until
from tests.fakes.monica import FakeMonica, Step
from tests.fakes.openai_upstream import FakeOpenAI, error_step
from tests.fakes.openai_upstream import Step as OpenAIStep
from tests.processes import spawn

SESSION = "sess-monica-0123456789"
KEY_1, KEY_2 = "sk-upstream-1-secretvalue", "sk-upstream-2-secretvalue"


def monica_config(monica: FakeMonica) -> dict[str, Any]:
    config = base_config(accounts=0)
    config["accounts"] = [{"id": "monica-1", "provider": "monica", "cookie": SESSION, "base_url": monica.url}]
    return config


async def test_a_logged_out_account_fails_its_test_and_passes_once_logged_in_again(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    monica.script(SESSION, Step("login"))
    status, result = await gw.admin("POST", "/admin/accounts/monica-1/test")
    assert status == 200
    assert result["outcome"] == "auth_failed"
    assert result["state"] == "invalid"
    assert isinstance(result["latency_ms"], int)
    assert isinstance(result["model"], str) and result["model"]

    status, result = await gw.admin("POST", "/admin/accounts/monica-1/test")  # the session works again
    assert (status, result["outcome"], result["state"]) == (200, "ok", "active")
    assert result["reason"] == ""
    assert len(monica.seen) == 2
    assert monica.problems == []


async def test_a_passed_test_ends_an_exhausted_rest_early_but_never_enables_a_disabled_account(
    upstream: FakeOpenAI, start_gateway
):
    gw = await start_gateway(base_config(upstream, accounts=2))
    upstream.script(KEY_1, error_step(429, "insufficient_quota", "You exceeded your current quota"))
    for _ in range(2):
        await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "exhausted"
    status, result = await gw.admin("POST", "/admin/accounts/acct-1/test")
    assert (status, result["outcome"], result["state"]) == (200, "ok", "active")

    await gw.admin("POST", "/admin/accounts/acct-2/disable")
    status, result = await gw.admin("POST", "/admin/accounts/acct-2/test", json={"model": "gpt-4o"})
    assert (status, result["outcome"], result["state"], result["model"]) == (200, "ok", "disabled", "gpt-4o")
    assert upstream.seen[-1].key == KEY_2  # the test went to the account asked for, not the pool's choice


async def test_a_test_respects_the_accounts_concurrency_cap(upstream: FakeOpenAI, start_gateway):
    raw = base_config(upstream, accounts=1)
    raw["accounts"][0]["max_concurrency"] = 1
    gw = await start_gateway(raw)
    upstream.script(KEY_1, OpenAIStep("hang"))
    busy = asyncio.create_task(gw.client().chat.completions.create(**chat()))
    await until(lambda: len(upstream.seen) == 1)
    status, result = await gw.admin("POST", "/admin/accounts/acct-1/test")
    assert (status, result["outcome"]) == (200, "busy")
    assert len(upstream.seen) == 1
    busy.cancel()


async def test_a_test_with_a_model_the_account_does_not_serve_is_a_400(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=1))
    status, answer = await gw.admin("POST", "/admin/accounts/acct-1/test", json={"model": "claude-x"})
    assert status == 400 and answer["error"]["param"] == "model"
    assert upstream.seen == []


async def test_check_probe_prints_a_table_and_fails_when_an_account_fails(upstream: FakeOpenAI, tmp_path):
    raw = base_config(upstream, accounts=2)
    raw["state"] = {"path": str(tmp_path / "state.json")}
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(raw))
    upstream.script(KEY_2, error_step(401, "invalid_api_key", "Incorrect API key provided"))
    proc = await spawn(
        "check", "--probe", "--config", str(tmp_path / "gateway.yaml"), output=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, text
    probe_rows = [line for line in text.splitlines() if " ms " in line or line.rstrip().endswith(" ms")]
    assert any("acct-1" in r and " ok " in r for r in probe_rows), text
    assert any("acct-2" in r and "auth_failed" in r for r in probe_rows), text
    assert "secretvalue" not in text
    assert sorted(s.key for s in upstream.seen) == [KEY_1, KEY_2]

    upstream.script(KEY_2)  # nothing scripted: both pass
    proc = await spawn(
        "check", "--probe", "--config", str(tmp_path / "gateway.yaml"), output=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    assert "2 of 2 account(s) passed" in out.decode()
