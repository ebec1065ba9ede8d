"""The `response` object and its output items, shared by the stream and the reply.

Codex reads usage strictly: when `usage` is present, `input_tokens`, `output_tokens`,
`total_tokens` and the two details counts must all be integers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from proxy.core.events import FinishReason, ToolCall, Usage
from proxy.doors.responses.tools import ToolNames

Status = Literal["in_progress", "completed", "incomplete", "failed"]


@dataclass
class ResponseShell:
    """What every `response` object of one request repeats: id, time, model, echoed fields."""

    model: str
    names: ToolNames = field(default_factory=ToolNames)
    echo: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"resp_{os.urandom(16).hex()}")  # uuid4's form, 1/8 of its CPU
    created_at: int = field(default_factory=lambda: int(time.time()))
    _items: int = 0
    _fields: dict[str, Any] | None = None

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
        body = dict(self._fields or self._fixed())
        body["status"] = status
        body["error"] = error
        body["incomplete_details"] = _incomplete(finish) if status == "incomplete" else None
        body["output"] = output
        body["usage"] = usage_of(usage) if usage is not None else None
        return body

    def _fixed(self) -> dict[str, Any]:
        """The fields every `response` object of the request repeats, in their order (built
        once: a stream sends three such objects)."""
        echo = self.echo
        self._fields = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": None,
            "error": None,
            "incomplete_details": None,
            "instructions": echo.get("instructions"),
            "max_output_tokens": echo.get("max_output_tokens"),
            "model": self.model,
            "output": None,
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
            "usage": None,
            "user": echo.get("user"),
            "metadata": echo.get("metadata") or {},
        }
        return self._fields

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


def finish_status(finish: FinishReason | None) -> Status:
    return "incomplete" if finish in ("length", "content_filter") else "completed"


def _incomplete(finish: FinishReason | None) -> dict[str, str]:
    return {"reason": "content_filter" if finish == "content_filter" else "max_output_tokens"}


def usage_of(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


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
