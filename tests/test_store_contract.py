"""The StateStore contract: the same behaviour from the memory and the redis backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from proxy.clock import FakeClock
from proxy.config import RateLimit, StateConfig
from proxy.core.account import AccountStatus, State
from proxy.core.admission import Ask, Blocker, Candidate, ClientQuota
from proxy.state.base import StateStore, UsageRecord
from proxy.state.memory import MemoryStore
from proxy.state.redis import RedisStore
from tests.conftest import until
from tests.fakes.redis_server import REDIS_URL, redis_prefix

__all__ = ["redis_prefix"]  # the fixture

NOW = 1_800_000_000.0
DAY = "2027-01-15"
Opener = Callable[[], Awaitable[StateStore]]


@pytest.fixture(params=["memory", "redis"])
async def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> AsyncIterator[Opener]:
    """Opens store instances over the same persisted state (one snapshot file, one prefix)."""
    opened: list[StateStore] = []

    async def open_() -> StateStore:
        store: StateStore
        if request.param == "memory":
            store = MemoryStore(str(tmp_path / "state.json"), FakeClock(NOW))
        else:
            # No test here makes Redis fail: a busy machine must not look like an outage.
            config = StateConfig(
                backend="redis", redis_url=REDIS_URL, key_prefix=redis_prefix, redis_timeout=10.0
            )
            store = RedisStore(config, FakeClock(NOW))
        await store.start()
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


async def replica(open_store: Opener, store: StateStore) -> StateStore:
    """A second process's view: another instance for redis, the same one for memory."""
    return await open_store() if isinstance(store, RedisStore) else store


def bump(status: AccountStatus) -> AccountStatus:
    return replace(status, failures=status.failures + 1)


async def test_status_updates_are_atomic_under_concurrency(open_store: Opener) -> None:
    a = await open_store()
    b = await replica(open_store, a)
    results = await asyncio.gather(*(s.update("acct", bump) for s in [a, b] * 20))
    assert sorted(old.failures for old, _ in results) == list(range(40))
    assert (await a.update("acct", lambda s: s))[1].failures == 40


async def test_a_status_change_reaches_every_replica(open_store: Opener) -> None:
    a = await open_store()
    b = await replica(open_store, a)
    disabled = AccountStatus(State.DISABLED, reason="by operator", changed_at=NOW)
    await a.update("acct", lambda _: disabled)
    await until(lambda: b.status("acct") == disabled)
    refused = await b.admit(Ask(None, [Candidate("acct", None, None)], "round_robin", "m", NOW))
    assert [r.blocker for r in refused.refusals] == [Blocker.DISABLED]


async def test_admission_refuses_each_blocked_account_with_its_reason(open_store: Opener) -> None:
    store = await open_store()
    for account_id, status in {
        "cool": AccountStatus(State.COOLING, until=NOW + 30),
        "done": AccountStatus(State.EXHAUSTED, until=NOW + 3600),
        "off": AccountStatus(State.DISABLED),
        "bad": AccountStatus(State.INVALID),
    }.items():
        await store.update(account_id, lambda _, s=status: s)  # type: ignore[misc]
    busy = Candidate("busy", None, max_concurrency=1)
    limited = Candidate("limited", RateLimit(rate=0.01, burst=1), None)
    for candidate in (busy, limited):
        assert (await store.admit(Ask(None, [candidate], "round_robin", "x", NOW))).lease
    names = ["cool", "done", "off", "bad", "skipped"]
    candidates = [*(Candidate(n, None, None) for n in names), busy, limited]
    refused = await store.admit(Ask(None, candidates, "round_robin", "m", NOW, frozenset({"skipped"})))
    assert refused.lease is None
    got = {r.account_id: r.blocker for r in refused.refusals}
    assert got == {
        "cool": Blocker.COOLING,
        "done": Blocker.EXHAUSTED,
        "off": Blocker.DISABLED,
        "bad": Blocker.INVALID,
        "busy": Blocker.BUSY,
        "limited": Blocker.LIMITED,
    }
    ready = {r.account_id: r.ready_at for r in refused.refusals}
    assert ready["cool"] == NOW + 30 and ready["done"] == NOW + 3600
    assert ready["limited"] == pytest.approx(NOW + 100, rel=1e-6)


async def test_client_over_its_limit_gets_the_wait_and_takes_nothing(open_store: Opener) -> None:
    store = await open_store()
    client = ClientQuota("alice", RateLimit(rate=0.1, burst=2))
    account = Candidate("acct", RateLimit(rate=0.01, burst=5), None)
    for remaining in (1, 0):
        admission = await store.admit(Ask(client, [account], "round_robin", "m", NOW))
        assert admission.lease is not None and admission.client is not None
        assert (admission.client.limit, admission.client.remaining) == (2, remaining)
    refused = await store.admit(Ask(client, [account], "round_robin", "m", NOW))
    assert refused.lease is None and refused.client_wait == pytest.approx(10.0, rel=0.01)
    # A failover attempt of the same client does not need a token.
    retry = replace(client, take=False)
    assert (await store.admit(Ask(retry, [account], "round_robin", "m", NOW))).lease is not None


async def test_leases_bound_concurrency_across_replicas_and_release_wakes_waiters(open_store: Opener) -> None:
    a = await open_store()
    b = await replica(open_store, a)
    account = [Candidate("acct", None, max_concurrency=2)]
    first = await a.admit(Ask(None, account, "round_robin", "m", NOW))
    second = await b.admit(Ask(None, account, "round_robin", "m", NOW))
    assert first.lease is not None and second.lease is not None
    assert a.in_flight("acct") >= 1
    refused = await a.admit(Ask(None, account, "round_robin", "m", NOW))
    assert [r.blocker for r in refused.refusals] == [Blocker.BUSY]
    waiter = asyncio.create_task(a.wait_change(600.0))
    await asyncio.sleep(0)  # one loop turn: the waiter now waits on the store's change signal
    assert not waiter.done()
    await b.release(second.lease)
    await asyncio.wait_for(waiter, 60.0)  # woken by the release: its own timeout is far off
    assert (await a.admit(Ask(None, account, "round_robin", "m", NOW))).lease is not None


async def test_one_probe_at_a_time_after_a_rest(open_store: Opener) -> None:
    a = await open_store()
    b = await replica(open_store, a)
    await a.update("acct", lambda _: AccountStatus(State.COOLING, until=NOW - 1, rest=60))
    account = [Candidate("acct", None, None)]
    await until(lambda: b.status("acct").state is State.COOLING)
    probe = await a.admit(Ask(None, account, "round_robin", "m", NOW))
    assert probe.lease is not None and probe.lease.probe
    other = await b.admit(Ask(None, account, "round_robin", "m", NOW))
    assert [r.blocker for r in other.refusals] == [Blocker.PROBING]
    await a.release(probe.lease)  # (redis: lands in the background, within a round trip)

    async def next_probe() -> bool:
        admission = await b.admit(Ask(None, account, "round_robin", "m", NOW))
        return admission.lease is not None and admission.lease.probe

    await until(next_probe)


async def test_usage_and_status_survive_a_new_store_instance(open_store: Opener) -> None:
    first = await open_store()
    for ok in (True, True, False):
        first.record_usage(
            UsageRecord(
                DAY,
                int(NOW // 60),
                "alice",
                "acct",
                "gpt-4o",
                ok,
                prompt_tokens=10,
                completion_tokens=5,
                usd_nanos=7,
            )
        )
    await first.update("acct", lambda _: AccountStatus(State.DISABLED, reason="by operator"))
    await first.close()
    second = await open_store()
    usage = await second.usage(DAY, DAY)
    assert usage[DAY]["client"]["alice"] == {
        "requests": 3,
        "failures": 1,
        "prompt_tokens": 30,
        "completion_tokens": 15,
        "estimated": 0,
        "usd_nanos": 21,
    }
    assert usage[DAY]["account"]["acct"]["requests"] == 3
    assert usage[DAY]["model"]["gpt-4o"]["requests"] == 3
    assert second.status("acct").state is State.DISABLED


async def test_minutes_count_requests_and_failures(open_store: Opener) -> None:
    store = await open_store()
    minute = int(NOW // 60)
    for ok in (True, False, True):
        store.record_usage(UsageRecord(DAY, minute, "alice", "acct", "gpt-4o", ok))
    assert (await store.minutes(minute - 5))[minute] == (3, 1)
