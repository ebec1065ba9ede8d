"""Alerts: one webhook event per account state change and per model left without an
account, never carrying a secret, never in a request's way."""

from __future__ import annotations

import logging
import socket

import pytest
from prometheus_client import generate_latest

from proxy import notify
from tests.conftest import base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, error_step
from tests.fakes.webhook import HOOK_PATH, FakeWebhook

KEY_1, KEY_2 = "sk-upstream-1-secretvalue", "sk-upstream-2-secretvalue"
FIELDS = {"event", "account", "provider", "state", "previous", "reason", "until", "gateway", "at", "text"}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "BACKOFF", 0.01)


def config(upstream: FakeOpenAI, webhook: FakeWebhook, **notify_section: object) -> dict[str, object]:
    return base_config(upstream, accounts=2, notify={"webhook": webhook.hook_url, **notify_section})


async def test_each_transition_posts_one_event_with_its_fields_and_no_secret(
    upstream, webhook, start_gateway
):
    gw = await start_gateway(config(upstream, webhook))
    upstream.script(KEY_1, error_step(401, "invalid_api_key", f"Incorrect API key provided: {KEY_1}"))
    await gw.client().chat.completions.create(**chat())  # acct-1 logged out; acct-2 answers
    await until(lambda: webhook.events() == ["invalid"])
    invalid = webhook.received[0]
    assert set(invalid) >= FIELDS
    assert (invalid["account"], invalid["provider"], invalid["state"], invalid["previous"]) == (
        "acct-1",
        "openai",
        "invalid",
        "active",
    )
    assert invalid["until"] is None and invalid["gateway"] == socket.gethostname()
    assert "acct-1" in invalid["text"] and "invalid" in invalid["text"]

    upstream.script(KEY_2, error_step(429, "insufficient_quota", "You exceeded your current quota"))
    with pytest.raises(Exception):  # noqa: B017 - the client's 429 is not what this test is about
        await gw.client().chat.completions.create(**chat())
    await until(lambda: len(webhook.received) == 3)
    exhausted, empty = webhook.received[1:]
    assert (exhausted["event"], exhausted["account"], exhausted["until"]) == (
        "exhausted",
        "acct-2",
        gw.clock.now() + 86400,
    )
    assert empty["event"] == "pool_empty"  # one message for both models left without an account
    assert sorted(empty["models"]) == ["gpt-4o", "gpt-4o-mini"]
    assert empty["accounts"] == ["acct-1", "acct-2"]
    assert "gpt-4o" in empty["text"]

    await gw.admin("POST", "/admin/accounts/acct-1/reset")
    await until(lambda: len(webhook.received) == 4)
    assert (webhook.received[3]["event"], webhook.received[3]["account"]) == ("recovered", "acct-1")
    await gw.client().chat.completions.create(**chat())  # no transition, no event
    await gw.admin("POST", "/admin/accounts/acct-1/reset")
    assert webhook.posts == 4

    text = str(webhook.received)
    for secret in (KEY_1, KEY_2, "sk-test-alice", "admin-secret", HOOK_PATH):
        assert secret not in text


async def test_only_the_configured_events_are_sent(upstream, webhook, start_gateway):
    gw = await start_gateway(config(upstream, webhook, events=["recovered"]))
    upstream.script(KEY_1, error_step(401, "invalid_api_key"))
    await gw.client().chat.completions.create(**chat())
    await gw.admin("POST", "/admin/accounts/acct-1/reset")
    await until(lambda: webhook.events() == ["recovered"])


async def test_a_failing_webhook_is_retried_then_logged_and_counted_once(
    upstream, webhook, start_gateway, caplog
):
    webhook.mode = "fail"
    gw = await start_gateway(config(upstream, webhook))
    upstream.script(KEY_1, error_step(401, "invalid_api_key"))
    with caplog.at_level(logging.WARNING, logger="pool_proxy.notify"):
        await gw.client().chat.completions.create(**chat())
        await until(lambda: webhook.posts == notify.ATTEMPTS)
        metrics = gw.gateway.metrics
        assert metrics is not None
        await until(
            lambda: (
                b'pool_proxy_webhook_events_total{result="failed"} 1.0' in generate_latest(metrics.registry)
            )
        )
    failures = [r for r in caplog.records if r.getMessage() == "alert webhook failed"]
    assert len(failures) == 1
    assert HOOK_PATH not in caplog.text


async def test_a_hanging_webhook_does_not_hold_up_requests(upstream, webhook, start_gateway):
    webhook.mode = "hang"
    gw = await start_gateway(config(upstream, webhook))
    upstream.script(KEY_1, error_step(401, "invalid_api_key"))
    await gw.client().chat.completions.create(**chat())
    await until(lambda: webhook.holding == 1)
    status, _ = await gw.admin("POST", "/admin/accounts/acct-1/reset")  # a second alert, queued
    assert status == 200
    for _ in range(3):  # answered while the receiver still holds the first alert
        await gw.client().chat.completions.create(**chat())
    assert webhook.holding == 1 and webhook.received == []
    webhook.mode = "ok"
    webhook.release.set()
    await until(lambda: webhook.events() == ["invalid", "recovered"])


async def test_the_end_of_an_unannounced_cooling_is_not_announced_either(upstream, webhook, start_gateway):
    gw = await start_gateway(config(upstream, webhook))
    upstream.script(KEY_1, error_step(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "30"}))
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "cooling"
    gw.clock.advance(31)
    for _ in range(2):  # the half-open probe brings acct-1 back
        await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "active"
    upstream.script(KEY_1, error_step(401, "invalid_api_key"))
    await gw.admin("POST", "/admin/accounts/acct-1/test")
    await until(lambda: webhook.events() == ["invalid"])  # the first and only alert
