"""The one function that moves an account between states (DESIGN §5).

The states and the status record themselves live in `proxy.core.account`, a floor
below both the pool and the state backends; they are re-exported here.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from proxy.config import PoolConfig
from proxy.core.account import TIMED, AccountStatus, State
from proxy.outcome import Outcome, OutcomeKind

__all__ = ["TIMED", "AccountStatus", "State", "apply_outcome", "fingerprint"]


def fingerprint(secret: str) -> str:
    """A short, non-reversible tag of a credential, to notice when it was replaced."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12] if secret else ""


def apply_outcome(
    status: AccountStatus, outcome: Outcome, policy: PoolConfig, now: float, *, probe: bool
) -> AccountStatus:
    """The state an account is in after `outcome`; the only place transitions happen."""
    if status.state in (State.DISABLED, State.INVALID):
        # The operator's switch, or a rejected credential, outlasts anything traffic says
        # (late answers of requests that began before); only an admin or a reload revives.
        return status
    kind = outcome.kind
    if kind is OutcomeKind.OK:
        if status.state is State.ACTIVE and status.failures == 0:
            return status
        if status.state in TIMED and not probe:
            # A request that began before the account went down; only a probe revives it.
            return status
        return AccountStatus(
            State.ACTIVE,
            changed_at=_changed(status, State.ACTIVE, now),
            credential=status.credential,
        )
    if kind is OutcomeKind.CLIENT_ERROR:
        return status
    if kind is OutcomeKind.AUTH_FAILED:
        return _enter(status, State.INVALID, None, outcome.reason or "credential rejected", now)
    if kind is OutcomeKind.QUOTA_EXHAUSTED:
        until = outcome.reset_at if outcome.reset_at else now + policy.exhausted_for
        return _enter(status, State.EXHAUSTED, until, outcome.reason or "quota exhausted", now)
    if kind is OutcomeKind.RATE_LIMITED:
        rest = outcome.retry_after if outcome.retry_after else _next_rest(status, policy, now)
        return _rest(status, rest, outcome.reason or "rate limited", now)
    # transient
    failures = status.failures + 1
    if probe or failures >= policy.failure_threshold:
        rest = _next_rest(status, policy, now)
        return _rest(status, rest, outcome.reason or "upstream failing", now)
    return replace(status, failures=failures)


def _next_rest(status: AccountStatus, policy: PoolConfig, now: float) -> float:
    """`cooldown` the first time; doubled (up to `cooldown_max`) while it keeps failing."""
    repeated = status.state is State.COOLING and status.rest > 0
    rest = status.rest * 2 if repeated else policy.cooldown
    return min(max(rest, policy.cooldown), policy.cooldown_max)


def _rest(status: AccountStatus, rest: float, reason: str, now: float) -> AccountStatus:
    until = now + rest
    if status.state is State.COOLING and status.until is not None and status.until > until:
        until = status.until  # never shorten a rest that is still running
    if status.state is State.EXHAUSTED and status.until is not None and status.until > until:
        return status  # a quota rest outranks a shorter rate-limit rest
    return _enter(status, State.COOLING, until, reason, now, rest=rest)


def _enter(
    status: AccountStatus,
    state: State,
    until: float | None,
    reason: str,
    now: float,
    *,
    rest: float = 0.0,
) -> AccountStatus:
    return AccountStatus(
        state=state,
        until=until,
        reason=reason[:300],
        failures=0,
        rest=rest,
        changed_at=_changed(status, state, now),
        credential=status.credential,
    )


def _changed(status: AccountStatus, state: State, now: float) -> float:
    return status.changed_at if status.state is state else now
