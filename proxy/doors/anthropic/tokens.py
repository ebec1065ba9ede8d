"""Input-token estimates for `count_tokens` and `message_start` (about 4 characters a token).

Claude Code sizes its context meter and decides when to compact from these numbers, so
they must grow with the request (system, tools, messages, images), never be 0 or fixed.
"""

from __future__ import annotations

from typing import Any

import orjson

IMAGE_TOKENS = 1600  # Anthropic's cost of a ~1.2 megapixel image; sizes are not known here
MESSAGE_OVERHEAD = 4  # role and separators per message


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """Tokens of a translated chat body's messages and tools."""
    chars = 0
    tokens = 0
    for message in body.get("messages", ()):
        tokens += MESSAGE_OVERHEAD
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    chars += len(part.get("text", ""))
                else:
                    tokens += IMAGE_TOKENS
        for call in message.get("tool_calls") or ():
            function = call.get("function", {})
            chars += len(function.get("name", "")) + len(function.get("arguments", ""))
    tools = body.get("tools")
    if tools:
        chars += len(orjson.dumps(tools))
    return max(1, tokens + (chars + 3) // 4)


def estimate_text_tokens(chars: int) -> int:
    return (chars + 3) // 4
