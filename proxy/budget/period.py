"""Budget periods: a day from local midnight, or a month from the 1st, in one time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from proxy.config.model import Period


@dataclass(frozen=True)
class Window:
    """One period: its name (part of the counter's key), when it started and when it resets."""

    label: str
    starts_at: float
    resets_at: float


def window(now: float, period: Period, zone: ZoneInfo) -> Window:
    """The period that `now` falls in; local wall-clock arithmetic keeps DST days right."""
    local = datetime.fromtimestamp(now, zone)
    if period == "month":
        start = datetime(local.year, local.month, 1, tzinfo=zone)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        end = datetime(year, month, 1, tzinfo=zone)
        label = f"m{start:%Y-%m}"
    else:
        start = datetime(local.year, local.month, local.day, tzinfo=zone)
        end = start + timedelta(days=1)
        label = f"d{start:%Y-%m-%d}"
    return Window(label, start.timestamp(), end.timestamp())


def describe_reset(resets_at: float, zone: ZoneInfo) -> str:
    """`2026-12-03 00:00 Europe/Paris` — how a user reads the reset time in a message."""
    local = datetime.fromtimestamp(resets_at, zone)
    return f"{local:%Y-%m-%d %H:%M} {zone.key}"
