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
    if events.find(b'"error"', 0, 2048) < 0:
        return
    for line in events.split(b"\n"):
        if line.startswith(b"data:"):
            payload = payload_of(line)
            if payload is not None and isinstance(payload.get("error"), dict):
                raise classify_openai(502, None, orjson.dumps(payload), now)
            return


class RawBlocks:
    """One stream's blocks, cleaned of what the client must not see; keeps the usage.

    Both events sit at a stream's end, so each block is searched from its end, once per
    pattern: a forward `in` test and then a split would read a whole block three times.
    """

    __slots__ = ("strip_usage", "usage")

    def __init__(self, *, strip_usage: bool) -> None:
        self.strip_usage = strip_usage
        self.usage: Usage | None = None

    def clean(self, events: bytes) -> bytes:
        return self._take_usage(_drop_done(events))

    def _take_usage(self, events: bytes) -> bytes:
        """The block's last usage is kept; usage-only chunks go when the client did not ask.
        One search per spelling, from the end: each goes on from where it last stopped."""
        found = False
        compact, spaced = events.rfind(_USAGE[0]), events.rfind(_USAGE[1])
        while (at := max(compact, spaced)) >= 0:
            start = events.rfind(b"\n\n", 0, at)
            start = 0 if start < 0 else start + 2
            end = events.find(b"\n\n", at)
            end = len(events) if end < 0 else end + 2
            payload = payload_of(events[start:end])
            usage = usage_of(payload.get("usage")) if payload is not None else None
            if payload is not None and usage is not None:
                if not found:  # the last in the block, as the client would read it
                    found, self.usage = True, usage
                if self.strip_usage and not payload.get("choices"):
                    events = events[:start] + events[end:]
            if compact >= start:
                compact = events.rfind(_USAGE[0], 0, start)
            if spaced >= start:
                spaced = events.rfind(_USAGE[1], 0, start)
        return events


def _drop_done(events: bytes) -> bytes:
    """The block without its `data: [DONE]` events (a text that only mentions it stays)."""
    sep = b"\r\n\r\n" if events.endswith(b"\r\n\r\n") else b"\n\n"
    at = events.rfind(b"[DONE]")
    while at >= 0:
        start = events.rfind(sep, 0, at)
        start = 0 if start < 0 else start + len(sep)
        end = events.find(sep, at)
        end = len(events) if end < 0 else end + len(sep)
        if events[start:end].strip() in _DONE:
            events = events[:start] + events[end:]
        at = events.rfind(b"[DONE]", 0, start)
    return events
