"""The `response` object and its output items, shared by the stream and the reply.

Codex reads usage strictly: when `usage` is present, `input_tokens`, `output_tokens`,
`total_tokens` and the two details counts must all be integers.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Literal

import orjson

from proxy.core.events import FinishReason, ToolCall, Usage
from proxy.core.ids import new_id
from proxy.doors.responses.tools import ToolNames

Status = Literal["in_progress", "completed", "incomplete", "failed"]


class ResponseShell:
    """What every `response` object of one request repeats: id, time, model, echoed fields.

    A plain class with slots, not a dataclass: one is made per request, and a dataclass's
    default factories cost as much again as the rest of its making."""

    __slots__ = ("_items", "_template", "created_at", "echo", "id", "model", "names")

    def __init__(
        self,
        model: str,
        names: ToolNames | None = None,
        echo: dict[str, Any] | None = None,
        *,
        id: str | None = None,  # tests pin it; letters, digits and "_" only
        created_at: int | None = None,
    ) -> None:
        self.model = model
        self.names = ToolNames() if names is None else names
        self.echo: dict[str, Any] = {} if echo is None else echo
        self.id = new_id("resp_") if id is None else id
        self.created_at = int(time.time()) if created_at is None else created_at
        self._items = 0
        self._template: bytes | None = None

    def item_id(self, prefix: str) -> str:
        """A new output item id, unique within the response and across responses."""
        self._items += 1
        return f"{prefix}_{self.id[5:]}{self._items:03d}"

    def response(
        self,
        status: Status,
        output: list[dict[str, Any]],
        usage: Usage | None = None,
        *,
        finish: FinishReason | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = self._fixed()
        body["status"] = status
        body["error"] = error
        body["incomplete_details"] = _incomplete(finish) if status == "incomplete" else None
        body["output"] = output
        body["usage"] = usage_of(usage) if usage is not None else None
        return body

    def template(self) -> bytes:
        """`response()` as JSON with five %-slots, in order: status, error, incomplete_details,
        output, usage (status bare, the others JSON); tests/test_responses_shape.py holds it
        to `orjson.dumps(response(...))`. A stream sends three `response` objects whose other
        fields never change, so they are dumped once: per request when the client's fields
        are echoed (Codex's instructions and tools are kilobytes), else once per model."""
        if self._template is None:
            # the id is letters, digits and "_" (new_id): nothing to escape, no "%"
            head = b'{"id":"%b","object":"response","created_at":%d,' % (self.id.encode(), self.created_at)
            rest = _echoed_json(self.model, self.echo) if self.echo else _plain_json(self.model)
            self._template = head + rest
        return self._template

    def _fixed(self) -> dict[str, Any]:
        """The fields every `response` object of the request repeats, in their order."""
        before_output, before_usage, last = _echoed(self.model, self.echo)
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": None,
            "error": None,
            "incomplete_details": None,
            **before_output,
            "output": None,
            **before_usage,
            "usage": None,
            **last,
        }

    def call_item(self, call: ToolCall, item_id: str, status: Status = "completed") -> dict[str, Any]:
        """A `function_call` (or `custom_tool_call`) item under the client's own names."""
        tool = self.names.client(call.name)
        if tool.kind == "custom":
            item = {
                "type": "custom_tool_call",
                "id": item_id,
                "call_id": call.id,
                "name": tool.name,
                "input": custom_input(call.arguments),
                "status": status,
            }
        else:
            item = {
                "type": "function_call",
                "id": item_id,
                "call_id": call.id,
                "name": tool.name,
                "arguments": call.arguments,
                "status": status,
            }
        if tool.namespace is not None:
            item["namespace"] = tool.namespace
        return item


@functools.lru_cache(maxsize=64)
def _plain_json(model: str) -> bytes:
    """`_echoed_json` of a request that echoes nothing: the same for every such request."""
    return _echoed_json(model, {})


def _echoed(model: str, echo: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The `response` object's echoed fields (and their defaults), in three runs: before
    `output`, before `usage`, and last."""
    before_output = {
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "model": model,
    }
    before_usage = {
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": echo.get("reasoning"),
        "store": False,
        "temperature": echo.get("temperature"),
        "text": echo.get("text", {"format": {"type": "text"}}),
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools", []),
        "top_p": echo.get("top_p"),
        "truncation": echo.get("truncation", "disabled"),
    }
    return before_output, before_usage, {"user": echo.get("user"), "metadata": echo.get("metadata") or {}}


def _echoed_json(model: str, echo: dict[str, Any]) -> bytes:
    """The `response` object's fields from `status` on, in `_fixed`'s order, as a template."""
    before_output, before_usage, last = _echoed(model, echo)
    parts = (  # the dumped objects less their braces, "%" escaped, between the slots
        b'"status":"%b","error":%b,"incomplete_details":%b,',
        orjson.dumps(before_output)[1:-1].replace(b"%", b"%%"),
        b',"output":%b,',
        orjson.dumps(before_usage)[1:-1].replace(b"%", b"%%"),
        b',"usage":%b,',
        orjson.dumps(last)[1:].replace(b"%", b"%%"),
    )
    return b"".join(parts)


def finish_status(finish: FinishReason | None) -> Status:
    return "incomplete" if finish in ("length", "content_filter") else "completed"


def _incomplete(finish: FinishReason | None) -> dict[str, str]:
    return {"reason": "content_filter" if finish == "content_filter" else "max_output_tokens"}


def incomplete_json(finish: FinishReason | None) -> bytes:
    """`_incomplete(finish)` dumped."""
    return b'{"reason":"content_filter"}' if finish == "content_filter" else b'{"reason":"max_output_tokens"}'


def usage_of(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


_USAGE = (
    b'{"input_tokens":%d,"input_tokens_details":{"cached_tokens":%d},"output_tokens":%d,'
    b'"output_tokens_details":{"reasoning_tokens":0},"total_tokens":%d}'
)


def usage_json(usage: Usage) -> bytes:
    """`usage_of(usage)` dumped (its counts are ints)."""
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    return _USAGE % (prompt, usage.cached_tokens, completion, prompt + completion)


_MESSAGE_ITEM = (
    b'{"type":"message","id":"%b","role":"assistant","status":"%b",'
    b'"content":[{"type":"output_text","text":%b,"annotations":[],"logprobs":[]}]}'
)


def message_json(item_id: bytes, said: bytes, status: bytes = b"completed") -> bytes:
    """`message_item` dumped, from the id (letters, digits, "_": nothing to escape) and the
    text already dumped (`said`): the stream has dumped it for its closing frames."""
    return _MESSAGE_ITEM % (item_id, status, said)


def message_item(item_id: str, text: str, status: Status = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def reasoning_item(item_id: str, text: str, status: Status = "completed") -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": text}],
        "status": status,
    }


def custom_input(arguments: str) -> str:
    """A custom tool's text input, offered upstream as the function argument `input`."""
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    value = parsed.get("input") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else arguments
