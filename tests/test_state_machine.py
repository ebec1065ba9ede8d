"""Randomised checks: no sequence of outcomes reaches an impossible state or leaks a lease."""

from __future__ import annotations

import asyncio
import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.clock import FakeClock
from proxy.config import PoolConfig, RateLimit
from proxy.core.admission import Ask, Candidate, ClientQuota, Lease
from proxy.outcome import Outcome, OutcomeKind
from proxy.pool.status import AccountStatus, State, apply_outcome
from proxy.state.memory import MemoryStore

LIMITED = Outcome(OutcomeKind.RATE_LIMITED, retry_after=5)
POLICY = PoolConfig(cooldown=10, cooldown_max=80, failure_threshold=3, exhausted_for=1000)

outcomes = st.builds(
    Outcome,
    kind=st.sampled_from(list(OutcomeKind)),
    reason=st.just("x"),
    retry_after=st.one_of(st.none(), st.floats(0.5, 500)),
    reset_at=st.none(),
)
steps = st.lists(
    st.tuples(outcomes, st.floats(0, 200), st.booleans(), st.sampled_from([None, "disable", "reset"])),
    max_size=40,
)


def check(status: AccountStatus, now: float) -> None:
    assert status.state in State
    if status.state in (State.COOLING, State.EXHAUSTED):
        assert status.until is not None
    if status.state is State.COOLING:
        assert 0 < status.rest <= max(POLICY.cooldown_max, 500)
    if status.state in (State.ACTIVE, State.INVALID, State.DISABLED):
        assert status.until is None
    if status.state is State.ACTIVE:
        assert status.failures < POLICY.failure_threshold


@given(steps)
@settings(max_examples=300, deadline=None)
def test_outcome_sequences_keep_states_consistent(sequence) -> None:
    status, now = AccountStatus(), 1000.0
    for outcome, elapsed, probe, operator in sequence:
        now += elapsed
        before = status
        status = apply_outcome(status, outcome, POLICY, now, probe=probe and status.needs_probe(now))
        check(status, now)
        if before.state in (State.DISABLED, State.INVALID):
            assert status == before  # only the operator or a new credential revives
        if before.state is State.EXHAUSTED and status.state is State.COOLING:
            assert status.until is not None and before.until is not None and status.until >= before.until
        if operator == "disable":
            status = AccountStatus(State.DISABLED, reason="op", changed_at=now)
        elif operator == "reset":
            status = AccountStatus(changed_at=now)


actions = st.lists(
    st.tuples(st.sampled_from(["admit", "release", "fail", "tick"]), st.integers(0, 5)), max_size=60
)


@given(actions)
@settings(max_examples=150, deadline=None)
def test_leases_never_leak_or_exceed_concurrency(script) -> None:
    asyncio.run(_run_leases(script))


async def _run_leases(script) -> None:
    clock = FakeClock()
    store = MemoryStore(None, clock)
    candidates = [
        Candidate("a", RateLimit(1.0, 3), 2),
        Candidate("b", None, 1),
        Candidate("c", RateLimit(0.5, 1), None),
    ]
    client = ClientQuota("client", RateLimit(2.0, 5))
    held: list[Lease] = []
    for action, n in script:
        if action == "admit":
            admission = await store.admit(Ask(client, candidates, "round_robin", "m", clock.now()))
            if admission.lease is not None:
                held.append(admission.lease)
        elif action == "release" and held:
            await store.release(held.pop(n % len(held)))
        elif action == "fail" and held:
            lease = held.pop(n % len(held))
            rest = functools.partial(
                apply_outcome, outcome=LIMITED, policy=POLICY, now=clock.now(), probe=lease.probe
            )
            await store.update(lease.account_id, rest)
            await store.release(lease)
        elif action == "tick":
            clock.advance(n * 2)
        for c in candidates:
            mine = [lease for lease in held if lease.account_id == c.id]
            assert store.in_flight(c.id) == len(mine)
            if c.max_concurrency:
                assert len(mine) <= c.max_concurrency
            assert sum(1 for lease in mine if lease.probe) <= 1
    for lease in held:
        await store.release(lease)
    assert all(store.in_flight(c.id) == 0 for c in candidates)
