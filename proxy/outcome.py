"""What one upstream call meant for the account that served it (DESIGN §5)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class OutcomeKind(StrEnum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    AUTH_FAILED = "auth_failed"
    TRANSIENT = "transient"
    CLIENT_ERROR = "client_error"


@dataclass(frozen=True)
class Outcome:
    """A provider's verdict. `retry_after` is a rest length, `reset_at` an epoch deadline."""

    kind: OutcomeKind
    reason: str = ""
    retry_after: float | None = None
    reset_at: float | None = None
    timeout: bool = False

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.OK


OK = Outcome(OutcomeKind.OK)


class UpstreamError(Exception):
    """Raised by a provider when a call failed; carries the classified outcome.

    For `client_error`, `status` and `body` are what the client should see (an
    OpenAI error envelope), since such errors are the client's to fix.
    """

    def __init__(self, outcome: Outcome, *, status: int = 502, body: dict[str, Any] | None = None) -> None:
        super().__init__(outcome.reason or outcome.kind.value)
        self.outcome = outcome
        self.status = status
        self.body = body


def rate_limited(reason: str, retry_after: float | None = None) -> UpstreamError:
    return UpstreamError(Outcome(OutcomeKind.RATE_LIMITED, reason, retry_after=retry_after), status=429)


def quota_exhausted(reason: str, reset_at: float | None = None) -> UpstreamError:
    return UpstreamError(Outcome(OutcomeKind.QUOTA_EXHAUSTED, reason, reset_at=reset_at), status=429)


def auth_failed(reason: str) -> UpstreamError:
    return UpstreamError(Outcome(OutcomeKind.AUTH_FAILED, reason), status=401)


def transient(reason: str, *, timeout: bool = False) -> UpstreamError:
    return UpstreamError(Outcome(OutcomeKind.TRANSIENT, reason, timeout=timeout), status=502)


def client_error(reason: str, status: int, body: dict[str, Any]) -> UpstreamError:
    return UpstreamError(Outcome(OutcomeKind.CLIENT_ERROR, reason), status=status, body=body)
