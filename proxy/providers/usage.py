"""Token usage for upstreams that report none: an estimate, marked as such."""

from __future__ import annotations

from typing import Any

from proxy.core.events import Usage
from proxy.request import text_of


def estimate_tokens(text: str) -> int:
    """About four characters per token; never zero for non-empty text."""
    return (len(text) + 3) // 4 if text else 0


def prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(text_of(m) for m in messages)


def estimate_usage(messages: list[dict[str, Any]], answer: str) -> Usage:
    """Usage for upstreams that report none, marked as estimated."""
    return Usage(estimate_tokens(prompt_text(messages)), estimate_tokens(answer), estimated=True)
