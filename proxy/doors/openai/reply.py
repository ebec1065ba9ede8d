"""A finished `Reply` → OpenAI's `chat.completion` body (or the upstream's own, unchanged)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from proxy.core.events import Reply, Usage
from proxy.doors.openai.encoder import completion_id
from proxy.doors.openai.legacy import finish_reason, function_call


def completion_body(model: str, reply: Reply, usage: Usage, *, legacy: bool = False) -> bytes:
    """`legacy`: the request sent `functions`; its call comes back as `function_call`."""
    if reply.raw is not None:
        return reply.raw
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    finish: str | None = reply.finish
    if reply.tool_calls and legacy:
        message["content"] = reply.text or None
        first = reply.tool_calls[0]
        message["function_call"] = function_call(first.name, first.arguments)
        finish = finish_reason(finish)
    elif reply.tool_calls:
        message["content"] = reply.text or None
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return orjson.dumps(
        {
            "id": completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage.as_openai(),
        }
    )
