"""Building OpenAI output for upstreams that do not speak OpenAI (DESIGN §7 chunk rules)."""

from __future__ import annotations

import secrets
import string
from typing import Any

import orjson

from proxy.providers.base import Usage

_ALPHABET = string.ascii_letters + string.digits
DONE = b"data: [DONE]\n\n"


def completion_id() -> str:
    return "chatcmpl-" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def estimate_tokens(text: str) -> int:
    """About four characters per token; never zero for non-empty text."""
    return (len(text) + 3) // 4 if text else 0


def prompt_text(messages: list[dict[str, Any]]) -> str:
    from proxy.request import text_of

    return "\n".join(text_of(m) for m in messages)


def estimate_usage(messages: list[dict[str, Any]], answer: str) -> Usage:
    """Usage for upstreams that report none, marked as estimated."""
    return Usage(estimate_tokens(prompt_text(messages)), estimate_tokens(answer), estimated=True)


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class ChunkWriter:
    """Emits one stream's chunks: one id and `created`, role first, finish, usage, [DONE]."""

    def __init__(self, model: str, created: int, *, include_usage: bool) -> None:
        self.id = completion_id()
        self.model = model
        self.created = created
        self.include_usage = include_usage
        self._started = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
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

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        if not self._started:
            self._started = True
            return {"role": "assistant", **delta}
        return delta

    def role(self) -> bytes:
        return self._chunk(self._delta({"content": ""}))

    def content(self, text: str) -> bytes:
        return self._chunk(self._delta({"content": text}))

    def reasoning(self, text: str) -> bytes:
        return self._chunk(self._delta({"reasoning_content": text}))

    def finish(self, reason: str = "stop") -> bytes:
        return self._chunk(self._delta({}), reason)

    def usage(self, usage: Usage) -> bytes:
        payload = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.as_openai(),
        }
        return sse(payload)

    def end(self, usage: Usage) -> bytes:
        """Finish chunk, the usage chunk when asked for, then [DONE]."""
        tail = self.finish()
        if self.include_usage:
            tail += self.usage(usage)
        return tail + DONE


def completion_body(model: str, created: int, text: str, usage: Usage, *, reasoning: str = "") -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning_content"] = reasoning
    return orjson.dumps(
        {
            "id": completion_id(),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage.as_openai(),
        }
    )
