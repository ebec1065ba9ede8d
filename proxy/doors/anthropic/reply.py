"""A finished `Reply` → an Anthropic `message` (frontdoors.md §1.4)."""

from __future__ import annotations

from typing import Any

from proxy.core.events import Reply, Usage
from proxy.core.ids import new_id
from proxy.doors.anthropic.request import MessagesRequest
from proxy.doors.anthropic.tokens import estimate_text_tokens
from proxy.doors.anthropic.wire import stop_reason, tool_id, tool_input, usage_json


def message_json(request: MessagesRequest, reply: Reply, usage: Usage | None = None) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.reasoning and request.thinking:
        content.append({"type": "thinking", "thinking": reply.reasoning, "signature": ""})
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        name = request.names.client(call.name)
        arguments = tool_input(name, call.arguments)
        content.append({"type": "tool_use", "id": tool_id(call.id), "name": name, "input": arguments})
    if usage is None:
        output = estimate_text_tokens(len(reply.text) + len(reply.reasoning))
        usage = reply.usage or Usage(request.input_tokens(), output, estimated=True)
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop_reason(reply.finish, bool(reply.tool_calls)),
        "stop_sequence": None,
        "usage": usage_json(usage),
    }
