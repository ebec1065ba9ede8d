"""Why no account can take a request: decided here once, for admission and after failover.

`acquire` asks while it may still wait (`patience` > 0: how long to wait, or the error);
the dispatcher asks after every attempt failed (`patience` 0: the error, or None when
an account still looks usable, so the last upstream error explains more).
"""

from __future__ import annotations

from collections.abc import Iterable

from proxy.core.admission import RECOVERING, Blocker, Refusal
from proxy.core.errors import GatewayError
from proxy.errors import insufficient_quota, no_available_account
from proxy.pool.status import AccountStatus, State

_BLOCKER = {State.COOLING: Blocker.COOLING, State.EXHAUSTED: Blocker.EXHAUSTED}


def verdict(refusals: Iterable[Refusal], now: float, patience: float) -> float | GatewayError:
    """Seconds to wait for a candidate to come free, or the `GatewayError` to answer with.

    Accounts on their way back (cooling, limited, busy, probing) come first: their soonest
    return is the wait or the Retry-After; only when none is on its way back does an
    exhausted quota (its reset) or a dead pool (disabled or invalid) decide. A dead pool
    gets no Retry-After: only an operator brings it back, and a client told to wait
    (Claude Code retries ten times) would wait for nothing.
    """
    refusals = tuple(refusals)
    recovering = [r for r in refusals if r.blocker in RECOVERING]
    if not recovering:
        exhausted = [r.ready_at or now for r in refusals if r.blocker is Blocker.EXHAUSTED]
        if exhausted:
            return insufficient_quota(min(exhausted) - now)
        return no_available_account(
            None, "Every account is disabled or invalid: an operator must enable one or renew its credential."
        )
    soonest = min((r.ready_at - now if r.ready_at is not None else 0.0) for r in recovering)
    if patience <= 0 or soonest > patience:
        detail = ", ".join(sorted({r.blocker.value for r in recovering}))
        return no_available_account(max(soonest, 1.0), f"Accounts are {detail}.")
    return max(0.005, min(soonest, patience)) if soonest > 0 else min(patience, 0.5)


def refusals_of(statuses: Iterable[tuple[str, AccountStatus]], now: float) -> list[Refusal] | None:
    """The stored states as refusals, or None when one of them is usable now."""
    refusals = []
    for account_id, status in statuses:
        if status.usable(now):
            return None
        blocker = _BLOCKER.get(status.state, Blocker(status.state.value))
        refusals.append(Refusal(account_id, blocker, status.until))
    return refusals


def unavailable(statuses: Iterable[tuple[str, AccountStatus]], now: float) -> GatewayError | None:
    """After failover: the pool's own reason when no account is usable, else None."""
    refusals = refusals_of(statuses, now)
    if refusals is None:
        return None
    answer = verdict(refusals, now, 0.0)  # no patience: always an error
    return answer if isinstance(answer, GatewayError) else None
