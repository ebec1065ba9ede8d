"""Account states and the one function that moves an account between them (DESIGN §5)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from proxy.config import PoolConfig
from proxy.outcome import Outcome, OutcomeKind


class State(StrEnum):
    ACTIVE = "active"
    COOLING = "cooling"
    EXHAUSTED = "exhausted"
    INVALID = "invalid"
    DISABLED = "disabled"


TIMED = (State.COOLING, State.EXHAUSTED)


@dataclass(frozen=True)
class AccountStatus:
    """The persisted, shared part of an account: what state, why, and until when."""

    state: State = State.ACTIVE
    until: float | None = None
    reason: str = ""
    failures: int = 0  # consecutive transient failures
    rest: float = 0.0  # length of the current rest, doubled by repeated failures
    changed_at: float = 0.0
    credential: str = ""  # fingerprint of the credential the state was observed with

    def usable(self, now: float) -> bool:
        """Active, or a rest that has ended (then one probe request may go)."""
        if self.state is State.ACTIVE:
            return True
        return self.state in TIMED and self.until is not None and self.until <= now

    def needs_probe(self, now: float) -> bool:
        return self.state in TIMED and self.usable(now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "until": self.until,
            "reason": self.reason,
            "failures": self.failures,
            "rest": self.rest,
            "changed_at": self.changed_at,
            "credential": self.credential,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> AccountStatus:
        until = raw.get("until")
        return cls(
            state=State(raw.get("state", "active")),
            until=float(until) if until is not None else None,
            reason=str(raw.get("reason", "")),
            failures=int(raw.get("failures", 0)),
            rest=float(raw.get("rest", 0.0)),
            changed_at=float(raw.get("changed_at", 0.0)),
            credential=str(raw.get("credential", "")),
        )


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
