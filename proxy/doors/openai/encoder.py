"""Events → OpenAI `chat.completion.chunk` SSE, in the exact sequence the SDKs expect (DESIGN §7).

One `id` and `created` for every chunk, `role` on the first delta, the finish chunk, the
usage chunk (`choices: []`) when asked, then `data: [DONE]`. `Raw` blocks are an OpenAI
upstream's own events and leave unchanged; the upstream's `[DONE]` is not among them.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from proxy.core.errors import GatewayError
from proxy.core.events import (
    Event,
    Finish,
    Raw,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from proxy.core.ids import new_id
from proxy.doors.openai.errors import error_body
from proxy.doors.openai.legacy import finish_reason, function_call

DONE = b"data: [DONE]\n\n"


def completion_id() -> str:
    return new_id("chatcmpl-")


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class ChatStreamEncoder:
    """One chat stream's chunks; the id is made only if a typed event needs one."""

    def __init__(
        self, model: str, *, include_usage: bool, created: int | None = None, legacy: bool = False
    ) -> None:
        self.model = model
        self.include_usage = include_usage
        self.legacy = legacy  # the request sent `functions`: one `function_call`, legacy.py
        self.created = int(time.time()) if created is None else created
        self._id = ""
        self._started = False
        self._relayed = False

    @property
    def id(self) -> str:
        if not self._id:
            self._id = completion_id()
        return self._id

    def start(self) -> bytes:
        return b""

    def encode(self, event: Event) -> bytes:
        if type(event) is Raw:  # the fast path: an OpenAI upstream's own bytes
            self._relayed = True
            return event.data
        if isinstance(event, TextDelta):
            return self._chunk({"content": event.text})
        if isinstance(event, ReasoningDelta):
            return self._chunk({"reasoning_content": event.text})
        if isinstance(event, ToolCallDelta):
            if self.legacy:
                if event.index:
                    return b""
                return self._chunk({"function_call": function_call(event.name, event.arguments)})
            return self._chunk({"tool_calls": [_tool_call(event)]})
        if isinstance(event, Finish):
            return self._chunk({}, finish_reason(event.reason) if self.legacy else event.reason)
        if isinstance(event, Usage):  # relayed streams carry their own usage chunk
            return self._usage(event) if self.include_usage and not self._relayed else b""
        return b""

    def end(self) -> bytes:
        return DONE

    def error(self, error: GatewayError) -> bytes:
        return sse(error_body(error)) + DONE

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if not self._started:
            self._started = True
            delta = {"role": "assistant", **delta}
            if "content" not in delta and finish is None:
                delta["content"] = None
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        payload: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }
        if self.include_usage:
            payload["usage"] = None
        return sse(payload)

    def _usage(self, usage: Usage) -> bytes:
        payload = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.as_openai(),
        }
        return sse(payload)


def _tool_call(delta: ToolCallDelta) -> dict[str, Any]:
    function: dict[str, str] = {"arguments": delta.arguments}
    call: dict[str, Any] = {"index": delta.index}
    if delta.id is not None:
        call["id"] = delta.id
        call["type"] = "function"
    if delta.name is not None:
        function["name"] = delta.name
    call["function"] = function
    return call
