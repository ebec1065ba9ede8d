"""The pool's stream events → the Responses event stream (`event:` + `data:` frames).

Order per item: `output_item.added`, its content events, `output_item.done` with the
whole item; one item open at a time, each closed before the next opens. Every frame
carries a rising `sequence_number`; the stream ends with `response.completed` (or
`response.incomplete` after a length stop) holding the full output and usage, and
no `[DONE]`. Codex takes text and calls only from `output_item.done`; SDK stream
helpers need the deltas (and refuse a delta before its item was added).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from proxy.core.errors import GatewayError
from proxy.core.events import (
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from proxy.doors.responses.shape import (
    ResponseShell,
    Status,
    custom_input,
    finish_status,
    incomplete_json,
    message_item,
    message_json,
    reasoning_item,
    usage_json,
)

ItemKind = Literal["message", "reasoning", "call"]

_FRAME = b'event: %b\ndata: {"type":"%b","sequence_number":%d,%b\n\n'
_START = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":%b}\n\n'
    b'event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1,'
    b'"response":%b}\n\n'
)
_RESPONSE_FRAME = b'event: %b\ndata: {"type":"%b","sequence_number":%d,"response":%b}\n\n'
_ITEM_DONE = (
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done",'
    b'"sequence_number":%d,"output_index":%d,"item":%b}\n\n'
)

# A message item's frames as byte templates (most streams are one message; building and
# dumping their dicts cost more than the rest of the encoding): they hold what
# shape.message_item renders, which tests/test_responses_stream.py holds them to.
_MESSAGE_OPEN = (
    b'event: response.output_item.added\ndata: {"type":"response.output_item.added",'
    b'"sequence_number":%d,"output_index":%d,"item":{"type":"message","id":"%b","role":"assistant",'
    b'"status":"in_progress","content":[]}}\n\n'
    b'event: response.content_part.added\ndata: {"type":"response.content_part.added",'
    b'"sequence_number":%d,"item_id":"%b","output_index":%d,"content_index":0,'
    b'"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}\n\n'
)
_TEXT_DELTA = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"item_id":"%b","output_index":%d,"content_index":0,"logprobs":[],'
    b'"sequence_number":%%d,"delta":%%b}\n\n'
)
_MESSAGE_CLOSE = (
    b'event: response.output_text.done\ndata: {"type":"response.output_text.done",'
    b'"sequence_number":%d,"item_id":"%b","output_index":%d,"content_index":0,"text":%b,"logprobs":[]}\n\n'
    b'event: response.content_part.done\ndata: {"type":"response.content_part.done",'
    b'"sequence_number":%d,"item_id":"%b","output_index":%d,"content_index":0,'
    b'"part":{"type":"output_text","text":%b,"annotations":[],"logprobs":[]}}\n\n'
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done",'
    b'"sequence_number":%d,"output_index":%d,"item":%b}\n\n'
)


class _Item:
    """One output item as it grows; rendered whole for `output_item.done` and the end."""

    __slots__ = ("call_id", "done", "id", "index", "kind", "name", "parts", "status")

    def __init__(self, kind: ItemKind, item_id: str, index: int, call_id: str = "", name: str = "") -> None:
        self.kind = kind
        self.id = item_id
        self.index = index  # output_index
        self.parts: list[str] = []  # text, reasoning or argument fragments
        self.call_id = call_id
        self.name = name  # upstream name, mapped back when rendered
        self.status: Status = "in_progress"
        self.done: bytes | None = None  # the item as `output_item.done` sent it, while still so

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def render(self, shell: ResponseShell) -> dict[str, Any]:
        if self.kind == "message":
            return message_item(self.id, self.text, self.status)
        if self.kind == "reasoning":
            return reasoning_item(self.id, self.text, self.status)
        return shell.call_item(ToolCall(self.call_id, self.name, self.text), self.id, self.status)


class ResponsesStream:
    """A `StreamEncoder` for one `/v1/responses` stream."""

    def __init__(self, shell: ResponseShell) -> None:
        self.shell = shell
        self._response = shell.template()
        self._seq = 0
        self._items: list[_Item] = []
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}  # upstream tool-call index → its latest item
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._text_delta = b""  # the open message's text-delta frame, less its number and text
        self._text_parts: list[str] | None = None  # the open message's text, while one is open

    # -- StreamEncoder

    def start(self) -> bytes:
        self._seq = 2
        response = self._response % (b"in_progress", b"null", b"null", b"[]", b"null")
        return _START % (response, response)

    def encode(self, event: Event) -> bytes:
        if type(event) is TextDelta:
            text = event.text
            if self._text_parts is not None and text:  # the hot path: more text for the open message
                seq = self._seq
                self._seq = seq + 1
                self._text_parts.append(text)
                return self._text_delta % (seq, orjson.dumps(text))
            return self._text(text) if text else b""
        if isinstance(event, Finish):
            self._finish = event.reason
            return b"" if self._open is None else self._close()
        if isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, ToolCallDelta):
            return self._tool(event)
        elif isinstance(event, ReasoningDelta):
            return self._reasoning(event.text) if event.text else b""
        return b""  # Raw: never asked for by this door

    def end(self) -> bytes:
        closing = b"" if self._open is None else self._close()
        usage = usage_json(self._usage or Usage(estimated=True))
        seq = self._seq
        self._seq = seq + 1
        if finish_status(self._finish) == "completed":
            response = self._response % (b"completed", b"null", b"null", self._output(), usage)
            return closing + _RESPONSE_FRAME % (b"response.completed", b"response.completed", seq, response)
        details = incomplete_json(self._finish)
        response = self._response % (b"incomplete", b"null", details, self._output(), usage)
        return closing + _RESPONSE_FRAME % (b"response.incomplete", b"response.incomplete", seq, response)

    def error(self, error: GatewayError) -> bytes:
        if self._open is not None:
            self._open.status = "incomplete"
        failure = orjson.dumps({"code": error.code or "server_error", "message": error.message})
        usage = b"null" if self._usage is None else usage_json(self._usage)
        response = self._response % (b"failed", failure, b"null", self._output(), usage)
        seq = self._seq
        self._seq = seq + 1
        return _RESPONSE_FRAME % (b"response.failed", b"response.failed", seq, response)

    # -- items

    def _text(self, text: str) -> bytes:
        """A message's first text: the open item closed, a message opened, the text's delta."""
        head = b"" if self._open is None else self._close()
        item = self._new("message", "msg")
        seq = self._seq
        self._seq = seq + 3
        item_id = item.id.encode()  # ids are letters, digits and "_": nothing to escape
        self._text_delta = _TEXT_DELTA % (item_id, item.index)
        self._text_parts = item.parts
        item.parts.append(text)
        opening = _MESSAGE_OPEN % (seq, item.index, item_id, seq + 1, item_id, item.index)
        return head + opening + self._text_delta % (seq + 2, orjson.dumps(text))

    def _reasoning(self, text: str) -> bytes:
        head = b""
        if self._open is None or self._open.kind != "reasoning":
            head = self._close() + self._add("reasoning", "rs")
            head += self._frame(
                "response.reasoning_summary_part.added",
                {**self._where(), "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
            )
        assert self._open is not None
        self._open.parts.append(text)
        return head + self._frame(
            "response.reasoning_summary_text.delta", {**self._where(), "summary_index": 0, "delta": text}
        )

    def _tool(self, delta: ToolCallDelta) -> bytes:
        item = self._calls.get(delta.index)
        head = b""
        if item is None or (delta.id is not None and delta.id != item.call_id):
            head = self._close() + self._add(
                "call", "fc", call_id=delta.id or self.shell.item_id("call"), name=delta.name or ""
            )
            item = self._open
            assert item is not None
            self._calls[delta.index] = item
        elif delta.name and not item.name:
            item.name = delta.name
        fragment = _new_suffix(item.text, delta.arguments)
        if not fragment:
            return head
        item.parts.append(fragment)
        item.done = None  # a late fragment for a closed call: the end renders the call anew
        if item is not self._open or self.shell.names.client(item.name).kind == "custom":
            return head  # a late fragment for a closed call, or custom input sent whole at the end
        return head + self._frame(
            "response.function_call_arguments.delta", {**self._where(), "delta": fragment}
        )

    def _new(self, kind: ItemKind, prefix: str, *, call_id: str = "", name: str = "") -> _Item:
        """A new output item, now the open one."""
        item = _Item(kind, self.shell.item_id(prefix), len(self._items), call_id=call_id, name=name)
        self._items.append(item)
        self._open = item
        return item

    def _add(self, kind: ItemKind, prefix: str, *, call_id: str = "", name: str = "") -> bytes:
        """A new reasoning or call item and its `output_item.added` (a message's is a template)."""
        item = self._new(kind, prefix, call_id=call_id, name=name)
        added = item.render(self.shell)
        if kind == "reasoning":
            added["summary"] = []
        elif "input" in added:
            added["input"] = ""
        return self._frame("response.output_item.added", {"output_index": item.index, "item": added})

    def _close(self) -> bytes:
        """Finish the open item: its closing content events, then `output_item.done`."""
        item = self._open
        if item is None:
            return b""
        self._open = None
        self._text_parts = None
        item.status = "completed"
        if item.kind == "message":
            seq = self._seq
            self._seq = seq + 3
            item_id, said = item.id.encode(), orjson.dumps("".join(item.parts))
            item.done = message_json(item_id, said)
            slots = (seq, item_id, item.index, said, seq + 1, item_id, item.index, said)
            return _MESSAGE_CLOSE % (*slots, seq + 2, item.index, item.done)
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "reasoning":
            text = item.text
            out = self._frame(
                "response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}
            )
            out += self._frame(
                "response.reasoning_summary_part.done",
                {**where, "summary_index": 0, "part": {"type": "summary_text", "text": text}},
            )
        else:
            out = self._close_call(item, where)
        item.done = orjson.dumps(item.render(self.shell))
        seq = self._seq
        self._seq = seq + 1
        return out + _ITEM_DONE % (seq, item.index, item.done)

    def _close_call(self, item: _Item, where: dict[str, Any]) -> bytes:
        out = b""
        if not item.parts:  # a call without arguments still hands the client a JSON object
            item.parts.append("{}")
            if self.shell.names.client(item.name).kind == "function":
                out = self._frame("response.function_call_arguments.delta", {**where, "delta": "{}"})
        if self.shell.names.client(item.name).kind == "custom":
            text = custom_input(item.text)
            out += self._frame("response.custom_tool_call_input.delta", {**where, "delta": text})
            return out + self._frame("response.custom_tool_call_input.done", {**where, "input": text})
        return out + self._frame("response.function_call_arguments.done", {**where, "arguments": item.text})

    # -- framing

    def _where(self) -> dict[str, Any]:
        assert self._open is not None
        return {"item_id": self._open.id, "output_index": self._open.index}

    def _output(self) -> bytes:
        """The output items as a JSON array, each closed one as its `output_item.done` sent it."""
        shell = self.shell
        return b"[%b]" % b",".join([item.done or orjson.dumps(item.render(shell)) for item in self._items])

    def _frame(self, kind: str, payload: dict[str, Any]) -> bytes:
        return self._frame_of(kind, orjson.dumps(payload))

    def _frame_of(self, kind: str, payload: bytes) -> bytes:
        """A frame of `kind` with the next sequence number and the rest of its fields:
        `payload`, a JSON object (not empty)."""
        seq = self._seq
        self._seq = seq + 1
        name = kind.encode()
        return _FRAME % (name, name, seq, payload[1:])


def _new_suffix(so_far: str, fragment: str) -> str:
    """The new part of an argument fragment: some upstreams resend the whole text so far."""
    if so_far and len(fragment) > len(so_far) and fragment.startswith(so_far):
        return fragment[len(so_far) :]
    return fragment
