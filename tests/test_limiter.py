"""In-process rate limits (memory backend, degraded Redis mode): timed by the injectable clock,
and a request takes the client's and the account's token together or neither."""

from __future__ import annotations

import pytest

from proxy.clock import FakeClock
from proxy.config import RateLimit
from proxy.core.admission import Ask, Blocker, Candidate, ClientQuota
from proxy.state.memory import MemoryStore

NOW = 1_800_000_000.0


async def test_an_account_out_of_tokens_costs_the_client_none() -> None:
    store = MemoryStore(None, FakeClock(NOW))
    client = ClientQuota("alice", RateLimit(rate=1.0, burst=2))
    account = Candidate("acct", RateLimit(rate=0.01, burst=1), None)
    first = await store.admit(Ask(client, [account], "round_robin", "m", NOW))
    assert first.lease is not None and first.client is not None and first.client.remaining == 1
    refused = await store.admit(Ask(client, [account], "round_robin", "m", NOW))
    assert refused.lease is None
    assert [r.blocker for r in refused.refusals] == [Blocker.LIMITED]
    assert refused.client is not None and refused.client.remaining == 1  # still there
    other = Candidate("other", None, None)
    granted = await store.admit(Ask(client, [account, other], "round_robin", "m", NOW))
    assert granted.lease is not None and granted.lease.account_id == "other"
    assert granted.client is not None and granted.client.remaining == 0


async def test_buckets_refill_as_the_injected_clock_moves() -> None:
    clock = FakeClock(NOW)
    store = MemoryStore(None, clock)
    client = ClientQuota("alice", RateLimit(rate=0.5, burst=1))
    account = Candidate("acct", RateLimit(rate=0.25, burst=1), None)
    assert (await store.admit(Ask(client, [account], "round_robin", "m", clock.now()))).lease
    waiting = await store.admit(Ask(client, [account], "round_robin", "m", clock.now()))
    assert waiting.lease is None and waiting.client_wait == pytest.approx(2.0)
    assert waiting.client is not None and waiting.client.reset == pytest.approx(2.0)

    clock.advance(2.0)  # the client has a token again; the account needs 4 s in all
    limited = await store.admit(Ask(client, [account], "round_robin", "m", clock.now()))
    [refusal] = limited.refusals
    assert refusal.blocker is Blocker.LIMITED and refusal.ready_at == pytest.approx(clock.now() + 2.0)

    clock.advance(2.0)
    granted = await store.admit(Ask(client, [account], "round_robin", "m", clock.now()))
    assert granted.lease is not None and granted.client is not None and granted.client.remaining == 0
