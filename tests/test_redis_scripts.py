"""The Lua scripts of the redis backend, run against the real server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from proxy.clock import FakeClock
from proxy.config import RateLimit
from proxy.core.account import AccountStatus, State
from proxy.core.admission import Admission, Ask, Blocker, Candidate, ClientQuota, Lease, Strategy
from proxy.state.memory import MemoryStore
from proxy.state.redis.keys import Keys
from proxy.state.redis.scripts import Scripts
from tests.conftest import until
from tests.fakes.redis_server import REDIS_URL, redis_prefix

__all__ = ["redis_prefix"]  # the fixture

NOW = 1_800_000_000.0
TTL = 30.0
_tokens = itertools.count()


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def scripts(redis_client: aioredis.Redis, redis_prefix: str) -> Scripts:
    return Scripts(redis_client, Keys(redis_prefix))


async def admit(
    scripts: Scripts,
    candidates: list[Candidate],
    client: ClientQuota | None = None,
    *,
    strategy: Strategy = "round_robin",
    exclude: frozenset[str] = frozenset(),
    now: float = NOW,
    ttl: float = TTL,
) -> Admission:
    ask = Ask(client, candidates, strategy, "model", now, exclude)
    admission, _ = await scripts.admit(ask, ttl, f"lease-{next(_tokens)}")
    return admission


async def set_status(scripts: Scripts, account_id: str, status: AccountStatus) -> None:
    doc = orjson.dumps(status.to_dict()).decode()
    assert await scripts.update(account_id, 0, 1, status.state.value, status.until, doc, b"{}") == 1


async def redis_now(client: aioredis.Redis) -> float:
    seconds, micros = await client.time()
    return float(seconds) + micros / 1e6


async def test_account_bucket_admits_its_burst_then_refuses_with_the_wait(
    scripts: Scripts, redis_client: aioredis.Redis
) -> None:
    account = Candidate("a", RateLimit(rate=0.01, burst=3), None)  # one token per 100 s
    before = await redis_now(redis_client)
    for _ in range(3):
        assert (await admit(scripts, [account])).lease is not None
    refused = await admit(scripts, [account])
    elapsed = await redis_now(redis_client) - before
    assert refused.lease is None
    [refusal] = refused.refusals
    assert refusal.blocker is Blocker.LIMITED
    # The wait is 100 s less what the bucket refilled on Redis's clock since the first take,
    # which is at most what Redis's clock moved around the four calls, however slow they were.
    assert refusal.ready_at is not None
    assert NOW + 100.0 - elapsed - 1e-3 <= refusal.ready_at <= NOW + 100.0 + 1e-3


async def test_bucket_refills_on_redis_time(scripts: Scripts) -> None:
    account = Candidate("a", RateLimit(rate=20.0, burst=1), None)
    assert (await admit(scripts, [account])).lease is not None
    assert (await admit(scripts, [account])).lease is None

    async def admitted() -> bool:
        return (await admit(scripts, [account])).lease is not None

    await until(admitted)  # 50 ms per token, whatever the gateway clock says


async def test_client_bucket_refuses_before_any_account_is_touched(scripts: Scripts) -> None:
    client = ClientQuota("alice", RateLimit(rate=0.01, burst=2))
    account = Candidate("a", RateLimit(rate=0.01, burst=10), None)
    first = await admit(scripts, [account], client)
    assert first.client is not None and (first.client.limit, first.client.remaining) == (2, 1)
    await admit(scripts, [account], client)
    refused = await admit(scripts, [account], client)
    assert refused.lease is None and refused.refusals == ()
    assert refused.client_wait == pytest.approx(100.0, rel=0.01)
    assert refused.client is not None and refused.client.remaining == 0
    # The refused request took no account token: 8 of 10 are left.
    for _ in range(8):
        assert (await admit(scripts, [account])).lease is not None
    assert (await admit(scripts, [account])).lease is None


async def test_admission_takes_everything_or_nothing(scripts: Scripts) -> None:
    client = ClientQuota("alice", RateLimit(rate=0.01, burst=5))
    busy = Candidate("busy", RateLimit(rate=0.01, burst=5), max_concurrency=1)
    held = await admit(scripts, [busy])
    assert held.lease is not None
    refused = await admit(scripts, [busy], client)
    assert refused.lease is None and [r.blocker for r in refused.refusals] == [Blocker.BUSY]
    assert refused.client is not None and refused.client.remaining == 5  # client token kept
    await scripts.release(held.lease, b"{}")
    granted = await admit(scripts, [busy], client)
    assert granted.lease is not None
    assert granted.client is not None and granted.client.remaining == 4
    # The account bucket lost exactly two tokens (the two leases), not three.
    for _ in range(3):
        await scripts.release(granted.lease, b"{}")
        granted = await admit(scripts, [busy])
        assert granted.lease is not None
    await scripts.release(granted.lease, b"{}")
    assert [r.blocker for r in (await admit(scripts, [busy])).refusals] == [Blocker.LIMITED]


async def test_failover_attempt_takes_no_client_token(scripts: Scripts) -> None:
    client = ClientQuota("alice", RateLimit(rate=0.01, burst=1), take=False)
    granted = await admit(scripts, [Candidate("a", None, None)], client)
    assert granted.lease is not None
    assert granted.client is not None and granted.client.remaining == 1


async def test_lease_expires_after_its_ttl_unless_refreshed(scripts: Scripts) -> None:
    account = Candidate("a", None, max_concurrency=1)
    first = await admit(scripts, [account], ttl=0.3)
    assert first.lease is not None
    assert [r.blocker for r in (await admit(scripts, [account], ttl=0.3)).refusals] == [Blocker.BUSY]

    async def freed() -> bool:
        return (await admit(scripts, [account], ttl=0.3)).lease is not None

    await until(freed)  # nobody released it: the TTL did


async def test_refresh_keeps_a_live_lease_and_does_not_revive_an_expired_one(
    scripts: Scripts, redis_client: aioredis.Redis
) -> None:
    account = Candidate("a", None, max_concurrency=2)
    live = await admit(scripts, [account], ttl=0.3)
    assert live.lease is not None
    assert await scripts.refresh([live.lease], 60.0) == 1
    gone = Lease("a", "never-admitted")
    assert await scripts.refresh([gone], 60.0) == 0
    score = await redis_client.zscore(scripts.keys.leases("a"), live.lease.token)
    assert score is not None and score > (await redis_now(redis_client) + 50) * 1000
    assert await redis_client.zscore(scripts.keys.leases("a"), "never-admitted") is None


async def test_only_one_probe_after_a_rest(scripts: Scripts) -> None:
    rested = AccountStatus(State.COOLING, until=NOW - 1, reason="rate limited", rest=60)
    await set_status(scripts, "a", rested)
    account = Candidate("a", None, None)
    probe = await admit(scripts, [account])
    assert probe.lease is not None and probe.lease.probe
    again = await admit(scripts, [account])
    assert [r.blocker for r in again.refusals] == [Blocker.PROBING]
    await scripts.release(probe.lease, b"{}")
    next_probe = await admit(scripts, [account])
    assert next_probe.lease is not None and next_probe.lease.probe


async def test_status_refusals_carry_the_ready_time(scripts: Scripts) -> None:
    await set_status(scripts, "cool", AccountStatus(State.COOLING, until=NOW + 30))
    await set_status(scripts, "done", AccountStatus(State.EXHAUSTED, until=NOW + 3600))
    await set_status(scripts, "off", AccountStatus(State.DISABLED))
    await set_status(scripts, "bad", AccountStatus(State.INVALID))
    names = ["cool", "done", "off", "bad"]
    refused = await admit(scripts, [Candidate(n, None, None) for n in names])
    got = {r.account_id: (r.blocker, r.ready_at) for r in refused.refusals}
    assert got == {
        "cool": (Blocker.COOLING, NOW + 30),
        "done": (Blocker.EXHAUSTED, NOW + 3600),
        "off": (Blocker.DISABLED, None),
        "bad": (Blocker.INVALID, None),
    }


async def test_update_is_a_compare_and_set_on_the_version(scripts: Scripts) -> None:
    doc = orjson.dumps(AccountStatus().to_dict()).decode()
    assert await scripts.update("a", 0, 1, "active", None, doc, b"{}") == 1
    assert await scripts.update("a", 0, 1, "active", None, doc, b"{}") == -1  # someone was first
    assert await scripts.update("a", 1, 7, "active", None, doc, b"{}") == 7  # never goes back


# Weights a=2, b=1, c=1 make the cycle a,b,c,a. Steps 4 and 9 are failovers away from b
# (they do not move the cursor); the leases of steps 2, 5, 8 and 11 end, so least_busy
# has loads to compare (load = leases / weight; ties keep the rotation).
EXPECTED_ORDER = {
    "round_robin": "a b c a a a b c a a a b",
    "least_busy": "a b c c a a b c a a a b",
}


@pytest.mark.parametrize("strategy", ["round_robin", "least_busy"])
async def test_cursor_rotation_follows_the_weighted_cycle_in_both_backends(
    scripts: Scripts, strategy: Strategy
) -> None:
    candidates = [Candidate("a", None, None, 2), Candidate("b", None, None), Candidate("c", None, None)]
    memory = MemoryStore(None, FakeClock())
    redis_order, memory_order = [], []
    for step in range(12):
        exclude = frozenset({"b"}) if step % 5 == 4 else frozenset()
        got = await admit(scripts, candidates, strategy=strategy, exclude=exclude)
        want = await memory.admit(Ask(None, candidates, strategy, "model", NOW, exclude))
        assert got.lease is not None and want.lease is not None
        redis_order.append(got.lease.account_id)
        memory_order.append(want.lease.account_id)
        if step % 3 == 2:
            await scripts.release(got.lease, b"{}")
            await memory.release(want.lease)
    assert " ".join(redis_order) == EXPECTED_ORDER[strategy]
    assert " ".join(memory_order) == EXPECTED_ORDER[strategy]
