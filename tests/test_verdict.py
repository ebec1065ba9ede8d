"""Why no account can take a request: one verdict for admission (may wait) and after failover."""

from __future__ import annotations

from proxy.core.admission import Blocker, Refusal
from proxy.core.errors import ErrorKind, GatewayError
from proxy.pool.status import AccountStatus, State
from proxy.pool.verdict import unavailable, verdict

NOW = 1000.0


def refused(*pairs: tuple[Blocker, float | None]) -> list[Refusal]:
    return [Refusal(f"a{i}", blocker, ready_at) for i, (blocker, ready_at) in enumerate(pairs)]


def test_a_busy_account_that_frees_within_the_patience_is_waited_for():
    assert verdict(refused((Blocker.BUSY, None), (Blocker.COOLING, NOW + 5)), NOW, 2.0) == 0.5
    assert verdict(refused((Blocker.COOLING, NOW + 1.5)), NOW, 2.0) == 1.5


def test_a_return_later_than_the_patience_is_a_503_with_the_soonest_retry():
    answer = verdict(refused((Blocker.COOLING, NOW + 40), (Blocker.LIMITED, NOW + 12)), NOW, 2.0)
    assert isinstance(answer, GatewayError)
    assert (answer.status, answer.kind, answer.retry_after) == (503, ErrorKind.UNAVAILABLE, 12)
    assert "cooling" in answer.message and "rate_limited" in answer.message


def test_accounts_on_their_way_back_outrank_exhausted_ones():
    answer = verdict(refused((Blocker.EXHAUSTED, NOW + 3600), (Blocker.COOLING, NOW + 20)), NOW, 0)
    assert isinstance(answer, GatewayError) and answer.code == "no_available_account"


def test_only_exhausted_accounts_answer_429_until_the_earliest_reset():
    answer = verdict(refused((Blocker.EXHAUSTED, NOW + 3600), (Blocker.EXHAUSTED, NOW + 60)), NOW, 5)
    assert isinstance(answer, GatewayError)
    assert (answer.status, answer.code, answer.retry_after) == (429, "insufficient_quota", 60)


def test_a_dead_pool_says_so():
    answer = verdict(refused((Blocker.DISABLED, None), (Blocker.INVALID, None)), NOW, 5)
    assert isinstance(answer, GatewayError) and answer.status == 503
    assert "disabled or invalid" in answer.message and "retry later" not in answer.message
    assert answer.retry_after is None  # only an operator brings it back: no client should wait


def test_after_failover_the_stored_states_decide_the_same_way():
    cooling = AccountStatus(State.COOLING, until=NOW + 20)
    exhausted = AccountStatus(State.EXHAUSTED, until=NOW + 60)
    answer = unavailable([("a", cooling), ("b", exhausted)], NOW)
    assert answer is not None and answer.code == "no_available_account" and answer.retry_after == 20
    answer = unavailable([("b", exhausted)], NOW)
    assert answer is not None and answer.code == "insufficient_quota"
    assert unavailable([("a", cooling), ("c", AccountStatus())], NOW) is None  # one is usable
