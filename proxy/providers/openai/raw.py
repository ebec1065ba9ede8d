"""The OpenAI door's fast path: an upstream's own SSE events, relayed as they arrive.

Blocks are cut only at event boundaries and otherwise left as the bytes they came as;
a block is searched (not parsed) for the two events the gateway must act on: the
usage chunk (read for accounting, dropped when the client did not ask for usage) and
`data: [DONE]` (dropped: the door writes its own end).
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.core.events import Usage
from proxy.providers.openai.parse import usage_of
from proxy.providers.openai.signals import classify_openai

_USAGE = (b'"usage":{', b'"usage": {')
_DONE = (b"data: [DONE]", b"data:[DONE]")


def boundary(data: bytes) -> int:
    """Index just past the last complete SSE event in `data`, or -1."""
    cut = data.rfind(b"\n\n")
    if cut >= 0:
        return cut + 2
    cut = data.rfind(b"\r\n\r\n")
    return cut + 4 if cut >= 0 else -1


def payload_of(event: bytes) -> dict[str, Any] | None:
    """The JSON object of one `data:` event, or None."""
    line = event.strip()
    if not line.startswith(b"data:"):
        return None
    try:
        payload = orjson.loads(line[5:].strip())
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def check_first(events: bytes, now: float) -> None:
    """An upstream that opens a 200 stream with an error event still gets classified."""
    if b'"error"' not in events[:2048]:
        return
    for line in events.split(b"\n"):
        if line.startswith(b"data:"):
            payload = payload_of(line)
            if payload is not None and isinstance(payload.get("error"), dict):
                raise classify_openai(502, None, orjson.dumps(payload), now)
            return


class RawBlocks:
    """One stream's blocks, cleaned of what the client must not see; keeps the usage."""

    __slots__ = ("strip_usage", "usage")

    def __init__(self, *, strip_usage: bool) -> None:
        self.strip_usage = strip_usage
        self.usage: Usage | None = None

    def clean(self, events: bytes) -> bytes:
        if _USAGE[0] in events or _USAGE[1] in events:
            events = self._take_usage(events)
        if b"[DONE]" in events:
            events = _drop_done(events)
        return events

    def _take_usage(self, events: bytes) -> bytes:
        """The usage event(s) found by search, not by splitting every event."""
        at = _find_usage(events, 0)
        while at >= 0:
            start = events.rfind(b"\n\n", 0, at)
            start = 0 if start < 0 else start + 2
            end = events.find(b"\n\n", at)
            end = len(events) if end < 0 else end + 2
            payload = payload_of(events[start:end])
            usage = usage_of(payload.get("usage")) if payload is not None else None
            if payload is not None and usage is not None:
                self.usage = usage
                if self.strip_usage and not payload.get("choices"):
                    events = events[:start] + events[end:]
                    end = start
            at = _find_usage(events, end)
        return events


def _find_usage(events: bytes, start: int) -> int:
    first = events.find(_USAGE[0], start)
    second = events.find(_USAGE[1], start)
    if first < 0 or (0 <= second < first):
        return second
    return first


def _drop_done(events: bytes) -> bytes:
    """The block without its `data: [DONE]` event (a text that only mentions it stays)."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in events else b"\n\n"
    parts = events.split(sep)
    kept = [part for part in parts if part.strip() not in _DONE]
    if len(kept) == len(parts):
        return events
    return sep.join(kept)
