"""Reading upstream failures: a table of (status, text) → outcome rules, and the one walk
over such a table that every provider uses (DESIGN §5).

Each provider keeps its own table beside its code; this holds the shape of a rule, the
walk, the rest length an answer asks for (`Retry-After`, `x-ratelimit-reset-*`) and the
`UpstreamError` each verdict becomes, so adding a text seen in real traffic is one line.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from proxy.godur import parse_go_duration
from proxy.outcome import (
    OutcomeKind,
    UpstreamError,
    auth_failed,
    client_error,
    quota_exhausted,
    rate_limited,
    transient,
)

ANY: Container[int] = range(0, 1000)
REDIRECTS: Container[int] = range(300, 400)
SERVER_ERRORS: Container[int] = range(500, 600)
_RESET_HEADERS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")


@dataclass(frozen=True)
class Signal:
    """When `status` is in `statuses` and `text` matches `pattern` (if any), it means `kind`."""

    statuses: Container[int]
    pattern: re.Pattern[str] | None
    kind: OutcomeKind

    def matches(self, status: int, text: str) -> bool:
        return status in self.statuses and (self.pattern is None or bool(self.pattern.search(text)))


def text(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def classify(
    table: tuple[Signal, ...],
    status: int,
    body: str,
    *,
    headers: Mapping[str, str] | None = None,
    now: float = 0.0,
    what: str = "upstream",
    shown: str | None = None,
    client_body: dict[str, Any] | None = None,
) -> UpstreamError:
    """The first matching rule decides; anything unmatched is transient.

    `body` is what the rules read; `shown` what the reason quotes (default: the start of
    `body`), for upstreams whose messages may echo a credential. `client_body` is the
    envelope a client error shows the client (default: one quoting the upstream).
    """
    kind = next((s.kind for s in table if s.matches(status, body)), OutcomeKind.TRANSIENT)
    reason = f"{what} HTTP {status}" if status else what
    snippet = " ".join((body if shown is None else shown).split())[:120]
    if snippet:
        reason += f": {snippet}"
    if kind is OutcomeKind.AUTH_FAILED:
        return auth_failed(reason)
    if kind is OutcomeKind.QUOTA_EXHAUSTED:
        return quota_exhausted(reason)
    if kind is OutcomeKind.RATE_LIMITED:
        return rate_limited(reason, retry_after(headers, now))
    if kind is OutcomeKind.CLIENT_ERROR:
        code = status if 400 <= status < 500 else 400
        return client_error(reason, code, client_body or _rejected(snippet or f"HTTP {status}"))
    return transient(reason, timeout=status in (408, 504))


def _rejected(what: str) -> dict[str, Any]:
    message = f"The upstream rejected the request: {what}"
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": "upstream_rejected"}
    return {"error": error}


def retry_after(headers: Mapping[str, str] | None, now: float) -> float | None:
    """Seconds to rest: `Retry-After` (seconds or an HTTP date), else `x-ratelimit-reset-*`
    (Go durations such as `1m30s`, as OpenAI sends them)."""
    if not headers:
        return None
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    for name in _RESET_HEADERS:
        raw = headers.get(name)
        seconds = parse_go_duration(raw) if raw else None
        if seconds:
            return seconds
    return None


def error_text(payload: Any) -> str:
    """The human part of an upstream's JSON error, whichever of the usual keys holds it."""
    if isinstance(payload, str):
        return payload
    if not isinstance(payload, dict):
        return ""
    parts = []
    for key in ("error", "message", "msg", "statusMessage", "detail", "code"):
        value = payload.get(key)
        if isinstance(value, dict):
            parts.append(error_text(value))
        elif value not in (None, "", 0):
            parts.append(str(value))
    return " ".join(parts)
