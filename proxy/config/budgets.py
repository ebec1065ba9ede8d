"""Config syntax for budgets, key expiry and prices (issue 12), shared with the admin API.

Both the config file and `POST /admin/clients` read these through a `Reader`, so a bad
value gets the same message naming its key path wherever it was written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from proxy.config.model import Budget, Period, Price
from proxy.config.reader import Reader

PERIODS: tuple[str, ...] = ("day", "month")


def budget(r: Reader, name: str = "budget") -> Budget | None:
    """`{requests?, tokens?, usd?, period: day|month}`; None when absent."""
    if not r.has(name):
        r.seen.add(name)
        return None
    sub = r.child(name)
    found = Budget(
        period=cast(Period, sub.choice("period", "day", PERIODS)),
        requests=sub.integer("requests", 0) or None if sub.has("requests") else None,
        tokens=sub.integer("tokens", 0) or None if sub.has("tokens") else None,
        usd=sub.number("usd"),
    )
    sub.done()
    if not any(sub.has(limit) for limit in ("requests", "tokens", "usd")):
        sub.error(sub.path, "give at least one of requests, tokens or usd")
        return None
    if not found.limits():
        return None  # each wrong value has its own error already
    return found


def parse_time(value: Any) -> float:
    """Epoch seconds from an ISO 8601 time (UTC when it has no offset), a date, or epoch
    seconds as a number (what the admin API answers with)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):  # YAML reads an unquoted timestamp as a datetime
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError("must be an ISO 8601 time such as 2026-12-31T18:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def expires_at(r: Reader, name: str = "expires_at") -> float | None:
    return r.convert(name, None, parse_time)


def timezone(r: Reader, name: str = "budget_timezone") -> str:
    zone = r.text(name, "UTC") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        r.error(r.key(name), f"unknown time zone {zone!r} (use an IANA name such as Europe/Paris)")
        return "UTC"
    return zone


def prices(r: Reader) -> tuple[Price, ...]:
    """`prices: {<model glob>: {input, output}}` in USD per million tokens."""
    found = []
    for pattern in list(r.raw):
        sub = r.child(str(pattern))
        found.append(Price(str(pattern), sub.number("input") or 0.0, sub.number("output") or 0.0))
        sub.done()
    return tuple(found)
