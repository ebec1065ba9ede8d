"""An account's shared status: the data every replica agrees on (DESIGN §5).

A floor below both `pool/` (which moves accounts between states) and `state/` (which
keeps and shares the result), so neither has to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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
