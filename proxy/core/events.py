"""What an upstream's answer is made of, whatever protocol carried it.

Providers yield these; each door encodes them in its own wire format. `Raw` is the one
exception: an OpenAI-compatible upstream's own SSE bytes, yielded only when the request
said the door can pass them on unchanged (the OpenAI door's fast path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    cached_tokens: int = 0  # of prompt_tokens, read from the upstream's prompt cache

    def as_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(slots=True, frozen=True)
class TextDelta:
    """A piece of the answer's text. `ends` (on every piece of the answer): the upstream's
    answer ended with it, its close was read in the same block, so only the close follows
    and the relay sends the two in one write; not part of what the piece says, so left out
    of comparisons."""

    text: str
    ends: bool = field(default=False, compare=False)


@dataclass(slots=True, frozen=True)
class ReasoningDelta:
    text: str
    ends: bool = field(default=False, compare=False)


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    """A piece of tool call `index`: the first piece carries `id` and `name`, every piece
    may carry a fragment of the JSON `arguments`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    ends: bool = field(default=False, compare=False)


@dataclass(slots=True, frozen=True)
class Finish:
    reason: FinishReason = "stop"


@dataclass(slots=True, frozen=True)
class Raw:
    """Upstream OpenAI SSE events (`data: …\\n\\n`), to be relayed byte for byte; `ends`:
    the upstream's usage or `[DONE]` was among them, only the answer's close follows."""

    data: bytes
    ends: bool = False


Event = TextDelta | ReasoningDelta | ToolCallDelta | Finish | Usage | Raw


@dataclass(slots=True, frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object as text, as OpenAI carries it


@dataclass
class Reply:
    """A finished non-streaming answer."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: FinishReason = "stop"
    usage: Usage | None = None
    raw: bytes | None = None  # an OpenAI upstream's own `chat.completion` body, for pass-through
