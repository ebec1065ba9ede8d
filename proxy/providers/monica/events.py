"""Reading Monica's SSE answer (upstreams.md §1.7) into text and reasoning deltas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from proxy.core.events import ReasoningDelta, TextDelta

NOT_SSE_KEEP = 4096  # bytes of a non-SSE answer kept to classify it
_SSE_FIELDS = (b"event:", b"id:", b"retry:", b":")


Delta = TextDelta | ReasoningDelta


class EventReader:
    """Turns `data:` lines into deltas; remembers what a non-SSE answer said."""

    def __init__(self) -> None:
        self.other = bytearray()  # non-`data:` content, kept for classification

    async def deltas(self, content: aiohttp.StreamReader) -> AsyncIterator[Delta]:
        async for raw in content:
            line = raw.rstrip(b"\n").rstrip(b"\r")
            if not line.startswith(b"data:"):
                self._keep(line)
                continue
            payload = line[5:].removeprefix(b" ")
            if payload == b"[DONE]":
                return
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue  # one garbled event should not end an answer
            if not isinstance(event, dict):
                continue
            for delta in _deltas_of(event):
                yield delta
            if event.get("finished") is True:
                return

    def _keep(self, line: bytes) -> None:
        """Remember the start of content that is not SSE (e.g. a JSON error body)."""
        if line and not line.startswith(_SSE_FIELDS) and len(self.other) < NOT_SSE_KEEP:
            self.other += line[: NOT_SSE_KEEP - len(self.other)] + b"\n"


def _deltas_of(event: dict[str, Any]) -> list[Delta]:
    found: list[Delta] = []
    status = event.get("agent_status")
    if isinstance(status, dict) and status.get("type") == "thinking_detail_stream":
        metadata = status.get("metadata")
        detail = metadata.get("reasoning_detail") if isinstance(metadata, dict) else None
        if isinstance(detail, str) and detail:
            found.append(ReasoningDelta(detail))
    text = event.get("text")
    if isinstance(text, str) and text:
        found.append(TextDelta(text))
    return found


class ThinkTags:
    """Reasoning inlined into the text as `<think>…</think>`, for clients that show only
    `content` (the account's `reasoning: think_tags`)."""

    def __init__(self) -> None:
        self.thinking = False

    def convert(self, delta: Delta) -> TextDelta:
        if isinstance(delta, ReasoningDelta):
            opening = "" if self.thinking else "<think>"
            self.thinking = True
            return TextDelta(opening + delta.text)
        return TextDelta(self.close() + delta.text)

    def close(self) -> str:
        """The closing tag owed, if reasoning was open."""
        if self.thinking:
            self.thinking = False
            return "</think>"
        return ""


def inline(reasoning: str, text: str) -> str:
    """A non-streaming answer in the `think_tags` style."""
    return f"<think>{reasoning}</think>{text}" if reasoning else text
