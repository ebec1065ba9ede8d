"""Reading `<tool_call>` blocks out of a model's answer, as it streams (issue 11).

Text streams through as it comes. From the first `<` that could open a block, only
what might still become `<tool_call>` is held back, so a reader never sees half a
block as text; a complete block becomes one tool call. Whitespace right before a
call, and after the last one at the end, is dropped: it only separated text from
calls. Reasoning inlined as a leading `<think>…</think>` is passed on unparsed, so a
model musing about a call does not make one. Every decision depends on the answer,
never on how it was split into chunks, so a stream and a whole reply parse the same.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Literal

import orjson

from proxy.core.events import TextDelta, ToolCall, ToolCallDelta
from proxy.core.ids import new_id
from proxy.tools.prompt import CLOSE, OPEN

log = logging.getLogger("pool_proxy.tools")

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*")  # ```json, ```JSON, ``` before the JSON
Piece = TextDelta | ToolCallDelta
Phase = Literal["start", "think", "text"]
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def call_id() -> str:
    return new_id("call_")


def _held(text: str, tag: str) -> int:
    """How many trailing characters of `text` could still grow into `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def read_call(inner: str) -> tuple[str, str] | str:
    """A block's `(name, arguments JSON)`, or why it is not a call.

    Tolerated: whitespace, a ```json fence, `arguments` as a JSON string or missing,
    `parameters` for `arguments`, and OpenAI's own `{"function": {...}}` nesting.
    """
    text = inner.strip()
    if text.startswith("```"):
        text = _FENCE.sub("", text).removesuffix("```").strip()
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "not JSON"
    if isinstance(value, dict) and "name" not in value and isinstance(value.get("function"), dict):
        value = value["function"]
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return "no tool name"
    arguments = value.get("arguments", value.get("parameters"))
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments) if arguments.strip() else None
        except orjson.JSONDecodeError:
            return "arguments are not JSON"
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return "arguments are not an object"
    return value["name"], orjson.dumps(arguments).decode()


class BlockParser:
    """Turns an answer's text, fed in any pieces, into text deltas and tool-call deltas.

    Only tools in `names` are accepted; any other block stays text, as does a block
    that does not parse (logged at info with `request_id`).
    """

    def __init__(
        self,
        names: frozenset[str],
        *,
        request_id: str | None = None,
        new_id: Callable[[], str] = call_id,
    ) -> None:
        self.names = names
        self.request_id = request_id
        self.new_id = new_id
        self.calls = 0
        self._text = ""  # held back outside a block: trailing whitespace and a possible tag start
        self._block: str | None = None  # inside a block: everything since `<tool_call>`
        self._gap = ""  # whitespace before the open block, given back if it is not a call
        self._phase: Phase = "start"  # an answer that opens with <think> is reasoning until </think>

    def feed(self, text: str) -> list[Piece]:
        out: list[Piece] = []
        if self._block is None:
            self._text += text
        else:
            self._block += text
        while self._step(out):
            pass
        return out

    def close(self) -> list[Piece]:
        """The end of the answer: what was held back, and a block left without its closing tag."""
        out: list[Piece] = []
        if self._block is not None:
            inner = self._block
            tail = _held(inner, CLOSE)  # a closing tag cut short at the very end
            self._end_block(inner[: len(inner) - tail], out, closed=False, raw=inner)
            self._block = None
        if self._text and not (self.calls and self._text.isspace()):
            out.append(TextDelta(self._text))  # trailing whitespace after a call is dropped
        self._text = ""
        return out

    def _step(self, out: list[Piece]) -> bool:
        """Advance over what is buffered; True while there may be more to do."""
        if self._block is not None:
            return self._step_block(out)
        if self._phase != "text":
            return self._step_think(out)
        start = self._text.find(OPEN)
        if start >= 0:
            before = self._text[:start]
            head = before.rstrip()
            if head:
                out.append(TextDelta(head))
            self._gap = before[len(head) :]
            self._block = self._text[start + len(OPEN) :]
            self._text = ""
            return True
        keep = _held(self._text, OPEN)
        free = self._text[: len(self._text) - keep]
        head = free.rstrip()
        if head:
            out.append(TextDelta(head))
            self._text = self._text[len(head) :]
        return False

    def _step_think(self, out: list[Piece]) -> bool:
        """Reasoning inlined as `<think>…</think>` (Monica's `think_tags`) passes unparsed."""
        if self._phase == "start":
            if len(self._text) < len(THINK_OPEN) and THINK_OPEN.startswith(self._text):
                return False  # too short yet to tell
            self._phase = "think" if self._text.startswith(THINK_OPEN) else "text"
            return True
        end = self._text.find(THINK_CLOSE)
        if end >= 0:
            end += len(THINK_CLOSE)
            out.append(TextDelta(self._text[:end]))
            self._text, self._phase = self._text[end:], "text"
            return True
        free = len(self._text) - _held(self._text, THINK_CLOSE)
        if free:
            out.append(TextDelta(self._text[:free]))
            self._text = self._text[free:]
        return False

    def _step_block(self, out: list[Piece]) -> bool:
        assert self._block is not None
        end = self._block.find(CLOSE)
        again = self._block.find(OPEN)
        if again >= 0 and (end < 0 or again < end):
            # A second block opened before the first was closed: the first ends there.
            inner, rest = self._block[:again], self._block[again + len(OPEN) :]
            self._end_block(inner, out, closed=False, raw=inner)
            self._block, self._text, self._gap = rest, "", ""
            return True
        if end < 0:
            return False
        inner, rest = self._block[:end], self._block[end + len(CLOSE) :]
        self._end_block(inner, out, closed=True, raw=inner)
        self._block, self._text = None, rest
        return True

    def _end_block(self, inner: str, out: list[Piece], *, closed: bool, raw: str) -> None:
        call = read_call(inner)
        if isinstance(call, tuple) and call[0] not in self.names:
            call = f"unknown tool {call[0]!r}" if self.names else "tools may not be called"
        if isinstance(call, tuple):
            name, arguments = call
            out.append(ToolCallDelta(self.calls, self.new_id(), name, arguments))
            self.calls += 1
        else:
            log.info(
                "a <tool_call> block was kept as text: %s",
                call,
                extra={"request_id": self.request_id},
            )
            out.append(TextDelta(self._gap + OPEN + raw + (CLOSE if closed else "")))
        self._gap = ""


def parse_text(
    text: str, names: frozenset[str], *, request_id: str | None = None, new_id: Callable[[], str] = call_id
) -> tuple[str, list[ToolCall]]:
    """A whole answer's remaining text and its tool calls (the non-streaming reading)."""
    parser = BlockParser(names, request_id=request_id, new_id=new_id)
    pieces = parser.feed(text) + parser.close()
    return joined(pieces)


def joined(pieces: list[Piece]) -> tuple[str, list[ToolCall]]:
    """Text and calls assembled from deltas, as a client assembles a stream."""
    text: list[str] = []
    calls: list[ToolCall] = []
    for piece in pieces:
        if isinstance(piece, TextDelta):
            text.append(piece.text)
        elif piece.index == len(calls):
            calls.append(ToolCall(piece.id or "", piece.name or "", piece.arguments))
        else:
            call = calls[piece.index]
            calls[piece.index] = ToolCall(call.id, call.name, call.arguments + piece.arguments)
    return "".join(text), calls
