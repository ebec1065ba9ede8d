"""`GET /metrics`: Prometheus text whose counts match the traffic that was sent (DESIGN §9)."""

from __future__ import annotations

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.http.keys import STREAMS
from tests.conftest import ADMIN, ALICE, BOB, Running, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, error_step

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(gw: Running, key: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with gw.http.get(f"{gw.url}/metrics", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def send_mixed_traffic(gw: Running, upstream: FakeOpenAI) -> None:
    """One ok, one 429 failover, one bad client key, one stream, one unknown model."""
    alice, bob = gw.client(ALICE), gw.client(BOB)
    await alice.chat.completions.create(**chat())
    upstream.script(
        "sk-upstream-2-secretvalue", error_step(429, "rate_limit_exceeded", **{"Retry-After": "30"})
    )
    await alice.chat.completions.create(**chat())  # acct-2 says 429, acct-3 answers
    with pytest.raises(openai.AuthenticationError):
        await gw.client("sk-nobody").chat.completions.create(**chat())
    stream = await bob.chat.completions.create(**chat(stream=True))
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    with pytest.raises(openai.NotFoundError):
        await alice.chat.completions.create(**chat(model="no-such-model-3000"))


async def test_metrics_count_requests_attempts_and_states(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    await send_mixed_traffic(gw, upstream)
    await until(lambda: not gw.app[STREAMS].open)
    m = await scrape(gw)

    requests = "pool_proxy_requests_total"
    assert value(m, requests, route="chat", status="200", model="gpt-4o-mini", client="alice") == 2
    assert value(m, requests, route="chat", status="200", model="gpt-4o-mini", client="bob") == 1
    assert value(m, requests, route="chat", status="401", model="none", client="anonymous") == 1
    # A model no account serves is counted as "other": a client cannot grow the label set.
    assert value(m, requests, route="chat", status="404", model="other", client="alice") == 1
    assert not any("no-such-model" in str(labels) for _, labels in m)
    assert total(m, requests) == 5

    attempts = "pool_proxy_upstream_attempts_total"
    assert value(m, attempts, account="acct-2", provider="openai", outcome="rate_limited") == 1
    assert total(m, attempts, outcome="ok") == 3
    assert total(m, attempts) == 4

    state = "pool_proxy_account_state"
    assert value(m, state, account="acct-2", provider="openai", state="cooling") == 1
    assert value(m, state, account="acct-2", provider="openai", state="active") == 0
    assert value(m, state, account="acct-1", provider="openai", state="active") == 1
    assert total(m, state) == 3  # one state per account

    assert value(m, "pool_proxy_open_streams") == 0
    # Overhead is measured for every answered request (3 ok), never negative.
    assert value(m, "pool_proxy_overhead_seconds_count", route="chat") == 3
    assert value(m, "pool_proxy_overhead_seconds_bucket", route="chat", le="+Inf") == 3
    assert value(m, "pool_proxy_request_seconds_count", route="chat") == 5
    assert value(m, "pool_proxy_first_byte_seconds_count", route="chat") == 1


async def test_client_rate_limit_rejections_are_counted(upstream, start_gateway):
    config = base_config(upstream)
    config["clients"][0]["rate_limit"] = {"rpm": 1, "burst": 1}
    gw = await start_gateway(config)
    client = gw.client()
    await client.chat.completions.create(**chat())
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(**chat())
    m = await scrape(gw)
    assert value(m, "pool_proxy_rate_limit_rejections_total", kind="client") == 1
    assert value(
        m, "pool_proxy_requests_total", route="chat", status="429", model="gpt-4o-mini", client="alice"
    )


async def test_protected_metrics_need_the_admin_key(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, metrics={"protect": True}))
    async with gw.http.get(f"{gw.url}/metrics") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_api_key"
    async with gw.http.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {ALICE}"}) as resp:
        assert resp.status == 401  # a client key is not the admin key
    assert "pool_proxy_open_streams" in {name for name, _ in await scrape(gw, ADMIN)}


async def test_disabled_metrics_answer_404(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, metrics={"enabled": False}))
    async with gw.http.get(f"{gw.url}/metrics") as resp:
        assert resp.status == 404


async def test_unreachable_redis_is_counted_as_store_errors_and_requests_still_succeed(
    upstream, start_gateway
):
    state = {"backend": "redis", "redis_url": "redis://127.0.0.1:1/0", "redis_timeout": "50ms"}
    gw = await start_gateway(base_config(upstream, state=state))
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content == "Hello from the fake upstream!"
    samples = await scrape(gw)
    assert total(samples, "pool_proxy_state_store_errors_total") >= 1
    async with gw.http.get(f"{gw.url}/readyz") as resp:
        assert (await resp.json())["degraded"] is True
