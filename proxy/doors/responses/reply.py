"""A finished `Reply` → the Responses `response` object (non-streaming)."""

from __future__ import annotations

from typing import Any

from proxy.core.events import Reply, Usage
from proxy.doors.responses.shape import (
    ResponseShell,
    finish_status,
    message_item,
    reasoning_item,
)


def response_body(shell: ResponseShell, reply: Reply, usage: Usage) -> dict[str, Any]:
    """Every part of the answer as output items, in the order a stream would send them:
    reasoning, then the text, then each call (a non-stream answer lists every call)."""
    output: list[dict[str, Any]] = []
    if reply.reasoning:
        output.append(reasoning_item(shell.item_id("rs"), reply.reasoning))
    if reply.text:
        output.append(message_item(shell.item_id("msg"), reply.text))
    output.extend(shell.call_item(call, shell.item_id("fc")) for call in reply.tool_calls)
    return shell.response(finish_status(reply.finish), output, usage, finish=reply.finish)
