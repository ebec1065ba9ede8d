"""Pieces of Anthropic's message shape shared by the non-stream reply and the stream."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from proxy.core.events import FinishReason, Usage
from proxy.core.ids import new_id

log = logging.getLogger("pool_proxy.anthropic")

_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",  # OpenAI never says which stop sequence hit, so never `stop_sequence`
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "end_turn",  # only when no tool_use block went out (see stop_reason)
}
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


def stop_reason(finish: FinishReason | None, tool_used: bool) -> str:
    """`tool_use` exactly when a tool_use block was sent, whatever the upstream said."""
    if tool_used:
        return "tool_use"
    return _STOP_REASONS.get(finish or "stop", "end_turn")


def usage_json(usage: Usage) -> dict[str, int]:
    """Anthropic counts cached prompt tokens apart from `input_tokens`."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    return {
        "input_tokens": usage.prompt_tokens - cached,
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def tool_id(upstream_id: str | None) -> str:
    """An id Anthropic clients accept (`^[A-Za-z0-9_-]+$`); some upstreams use ':' or '.'."""
    if not upstream_id:
        return new_id("toolu_")
    return _NOT_ID.sub("_", upstream_id)


def tool_input(name: str, arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as the object `input` must be; broken JSON → {} and a log line."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    log.warning("tool call %s: arguments are not a JSON object (%d chars); sent as {}", name, len(arguments))
    return {}
