"""Reading failure signals of web upstreams: a table of (status, text) → outcome rules.

Each cookie provider keeps its own table in its module; this holds the shape of a
rule and the walk over a table, so adding a text seen in real traffic is one line.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from proxy.errors import envelope
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
) -> UpstreamError:
    """The first matching rule decides; anything unmatched is transient."""
    kind = next((s.kind for s in table if s.matches(status, body)), OutcomeKind.TRANSIENT)
    reason = f"{what} HTTP {status}" if status else what
    snippet = " ".join(body.split())[:120]
    if snippet:
        reason += f": {snippet}"
    if kind is OutcomeKind.AUTH_FAILED:
        return auth_failed(reason)
    if kind is OutcomeKind.QUOTA_EXHAUSTED:
        return quota_exhausted(reason)
    if kind is OutcomeKind.RATE_LIMITED:
        return rate_limited(reason, retry_after(headers, now))
    if kind is OutcomeKind.CLIENT_ERROR:
        message = f"The upstream rejected the request: {snippet or f'HTTP {status}'}"
        code = status if 400 <= status < 500 else 400
        return client_error(reason, code, envelope(message, "invalid_request_error", "upstream_rejected"))
    return transient(reason, timeout=status in (408, 504))


def retry_after(headers: Mapping[str, str] | None, now: float) -> float | None:
    """Seconds to rest from `Retry-After`: a number of seconds or an HTTP date."""
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
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
