"""The pool's stream events → Anthropic SSE frames (frontdoors.md §1.5 and §2).

The SDKs and Claude Code reject a stream whose blocks overlap or skip an index
("Content block not found"), so exactly one block is open at a time, indices run
0, 1, 2…, and every started block is stopped before the next starts. `message_delta`
is held to the end so it carries the final usage and a `stop_reason` that agrees with
the blocks actually sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from proxy.core.errors import GatewayError
from proxy.core.events import Event, Finish, FinishReason, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from proxy.core.ids import new_id
from proxy.doors.anthropic.errors import error_body
from proxy.doors.anthropic.tokens import estimate_text_tokens
from proxy.doors.anthropic.tools import ToolNames
from proxy.doors.anthropic.wire import log, stop_reason, tool_id, usage_json

Open = Literal["text", "thinking", "tool"] | None


def frame(event: str, payload: dict[str, Any]) -> bytes:
    """One SSE frame; the SDKs dispatch on the `event:` line, so it is always there."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


# The frames every stream sends, as byte templates (building and dumping their dicts cost
# more than the rest of the encoding)
_MESSAGE_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"%s","type":"message",'
    b'"role":"assistant","model":%b,"content":[],"stop_reason":null,"stop_sequence":null,"usage":'
    b'{"input_tokens":%d,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}\n\n'
)
_TEXT_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":'
)
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_MESSAGE_DELTA = (
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"%s",'
    b'"stop_sequence":null},"usage":%b}\n\n'
)
_MESSAGE_STOP = frame("message_stop", {"type": "message_stop"})


@dataclass(slots=True)
class _Call:
    upstream_index: int
    id: str
    arguments: str = ""

    def feed(self, fragment: str) -> str:
        """The new part of the arguments. Some upstreams resend the whole text so far
        each time; a fragment that repeats everything sent is such a snapshot."""
        if not fragment:
            return ""
        sent = self.arguments
        if sent.startswith("{") and fragment.startswith(sent):
            self.arguments = fragment
            return fragment[len(sent) :]
        self.arguments = sent + fragment
        return fragment


class MessagesStream:
    """A StreamEncoder (proxy/core/door.py) for one `/v1/messages` stream."""

    def __init__(self, model: str, input_tokens: int, names: ToolNames, *, thinking: bool) -> None:
        self.id = new_id("msg_")
        self.model = model
        self.input_tokens = input_tokens
        self.names = names
        self.thinking = thinking
        self._index = -1
        self._open: Open = None
        self._call: _Call | None = None  # the open tool_use block's call
        self._calls: dict[int, _Call] = {}
        self._tool_used = False
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._chars = 0  # output so far, for an estimate if no usage comes
        self._text_prefix = b""

    def start(self) -> bytes:
        # input_tokens is an estimate: 0 would zero Claude Code's context meter
        return _MESSAGE_START % (self.id.encode(), orjson.dumps(self.model), self.input_tokens)

    def encode(self, event: Event) -> bytes:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, ToolCallDelta):
            return self._tool(event)
        if isinstance(event, ReasoningDelta):
            return self._reasoning(event.text)
        if isinstance(event, Finish):
            self._finish = event.reason
            return self._close()
        if isinstance(event, Usage):
            self._usage = event
        return b""  # Raw never comes: this door leaves `passthrough` off

    def end(self) -> bytes:
        usage = self._usage or Usage(self.input_tokens, estimate_text_tokens(self._chars), estimated=True)
        reason = stop_reason(self._finish, self._tool_used).encode()
        tail = _MESSAGE_DELTA % (reason, orjson.dumps(usage_json(usage)))
        return self._close() + tail + _MESSAGE_STOP

    def error(self, error: GatewayError) -> bytes:
        return frame("error", error_body(error))

    def _text(self, text: str) -> bytes:
        if not text:
            return b""  # an empty delta must not open a block
        self._chars += len(text)
        head = b""
        if self._open != "text":
            head = self._next("text") + _TEXT_START % self._index
            self._text_prefix = _TEXT_DELTA % self._index
        return head + self._text_prefix + orjson.dumps(text) + b"}}\n\n"

    def _reasoning(self, text: str) -> bytes:
        if not text or not self.thinking:
            return b""  # the client did not ask for thinking blocks
        self._chars += len(text)
        head = b""
        if self._open != "thinking":
            head = self._start("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        return head + self._delta({"type": "thinking_delta", "thinking": text})

    def _tool(self, event: ToolCallDelta) -> bytes:
        call = self._calls.get(event.index)
        head = b""
        if call is None or (event.id is not None and tool_id(event.id) != call.id):
            call = _Call(event.index, tool_id(event.id))  # a new id at a known index is a new call
            self._calls[event.index] = call
            name = self.names.client(event.name or "")
            head = self._start("tool", {"type": "tool_use", "id": call.id, "name": name, "input": {}})
            self._call = call
            self._tool_used = True
        elif call is not self._call:
            # its block is already stopped and one block at a time cannot go back to it
            log.warning("tool call %d: argument fragment after its block closed; dropped", event.index)
            return b""
        fragment = call.feed(event.arguments)
        self._chars += len(fragment)
        if not fragment:
            return head
        return head + self._delta({"type": "input_json_delta", "partial_json": fragment})

    def _start(self, kind: Open, block: dict[str, Any]) -> bytes:
        stop = self._next(kind)
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return stop + frame("content_block_start", start)

    def _next(self, kind: Open) -> bytes:
        """Stops the open block (its bytes) and makes a block of `kind` the open one."""
        stop = self._close()
        self._index += 1
        self._open = kind
        return stop

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        self._call = None
        return _BLOCK_STOP % self._index

    def _delta(self, delta: dict[str, Any]) -> bytes:
        payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return frame("content_block_delta", payload)
