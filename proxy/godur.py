"""Go-style durations ("1s", "6m0s", "12ms"), as OpenAI's rate-limit headers use them."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_go_duration(text: str) -> float | None:
    """Seconds, or None when `text` is not a Go duration."""
    text = text.strip()
    if not text:
        return None
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _SCALE[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def format_go_duration(seconds: float) -> str:
    """`1s`, `6m0s`, `1h0m0s`; whole seconds, rounded up, at least 1s when not zero."""
    whole = int(seconds + 0.999) if seconds > 0 else 0
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
