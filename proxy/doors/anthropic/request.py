"""An Anthropic Messages body → the OpenAI chat body → `ChatRequest`.

The chat body is then checked by proxy/request.py like any chat request, so validation
and routing needs stay in one place. Only fields built here reach an upstream: unknown
Anthropic fields, `cache_control` and betas are accepted and never forwarded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from proxy.doors.anthropic.fields import bad, number, positive_int
from proxy.doors.anthropic.messages import chat_messages, system_message
from proxy.doors.anthropic.tokens import estimate_input_tokens
from proxy.doors.anthropic.tools import ToolNames, chat_tool_choice, chat_tools
from proxy.request import ChatRequest, chat_request, parse_json_body

# Anthropic clients ask for their own models' output ceilings (Claude Code: 32000 or more);
# most OpenAI-compatible models reject anything above 16384 with a 400, so cap it here.
MAX_OUTPUT_TOKENS = 16384
MAX_STOP_SEQUENCES = 4  # OpenAI's limit
MAX_USER = 64  # OpenAI's limit on `user`; Claude Code's metadata.user_id is longer
_SAMPLING = frozenset(("temperature", "top_p", "stop_sequences"))
_TOOLING = frozenset(("tools", "tool_choice"))
_REASONING = frozenset(("thinking", "output_config"))
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high"}


@dataclass
class MessagesRequest:
    """A parsed `/v1/messages` call: the pool's request plus what only this door needs."""

    chat: ChatRequest
    names: ToolNames = field(default_factory=ToolNames)
    thinking: bool = False  # the client asked to see thinking blocks
    user_id: str | None = None  # metadata.user_id as sent (a sticky-session key)

    @property
    def model(self) -> str:
        return self.chat.requested_model  # answers name the model the client asked for

    def input_tokens(self) -> int:
        return estimate_input_tokens(self.chat.body)


def parse_messages(raw: bytes, aliases: dict[str, str]) -> MessagesRequest:
    body = parse_json_body(raw)
    names = ToolNames()
    chat_body = chat_body_of(body, names, counting=False)
    chat = chat_request(chat_body, aliases)
    if chat_body.get("tools") and chat_body.get("tool_choice") != "none":
        # an agent that offers tools cannot work with an account that drops them (issue 10 §6)
        chat.needs = replace(chat.needs, tools=True)
    thinking = body.get("thinking")
    return MessagesRequest(chat, names, _shows_thinking(thinking), _user_id(body))


def count_input_tokens(raw: bytes) -> int:
    """`/v1/messages/count_tokens`: the estimate for a body without `max_tokens`."""
    return estimate_input_tokens(chat_body_of(parse_json_body(raw), ToolNames(), counting=True))


def chat_body_of(body: dict[str, Any], names: ToolNames, *, counting: bool) -> dict[str, Any]:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("model", "Field required (a non-empty string)")
    max_tokens = positive_int(body, "max_tokens", required=not counting)
    messages = chat_messages(body.get("messages"), names)
    system = system_message(body.get("system"))
    out: dict[str, Any] = {"model": model, "messages": [system, *messages] if system else messages}
    if max_tokens is not None:
        out["max_tokens"] = min(max_tokens, MAX_OUTPUT_TOKENS)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("stream", "must be a boolean")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # message_delta needs the final usage
    # most bodies leave out whole groups of fields: a set operation each skips their checks
    if not _SAMPLING.isdisjoint(body):
        _sampling(body, out)
    if not _TOOLING.isdisjoint(body):
        _tools(body, names, out)
    if not _REASONING.isdisjoint(body):
        _reasoning(body, out)
    user = _user_id(body)
    if user:
        out["user"] = user if len(user) <= MAX_USER else "u_" + hashlib.sha256(user.encode()).hexdigest()[:40]
    return out


def _sampling(body: dict[str, Any], out: dict[str, Any]) -> None:
    for name in ("temperature", "top_p"):
        value = number(body, name, 0.0, 1.0)
        if value is not None:
            out[name] = value
    stops = body.get("stop_sequences")
    if stops is None:
        return
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad("stop_sequences", "must be an array of strings")
    if stops:
        out["stop"] = stops[:MAX_STOP_SEQUENCES]


def _tools(body: dict[str, Any], names: ToolNames, out: dict[str, Any]) -> None:
    tools = chat_tools(body.get("tools"), names)
    choice, parallel = chat_tool_choice(body.get("tool_choice"), names)
    if not tools:
        return  # `tools: []` (title calls) with a tool_choice is a 400 upstream: send neither
    out["tools"] = tools
    if choice is not None:
        out["tool_choice"] = choice
    if not parallel:
        out["parallel_tool_calls"] = False


def _reasoning(body: dict[str, Any], out: dict[str, Any]) -> None:
    """`thinking` (budget) or `output_config.effort` → `reasoning_effort`; `output_config.format`
    → `response_format`."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    config = body.get("output_config")
    config = config if isinstance(config, dict) else {}
    effort = _EFFORTS.get(str(config.get("effort")))
    if effort is None and kind == "enabled" and isinstance(thinking, dict):
        effort = _budget_effort(thinking.get("budget_tokens"))
    if effort is not None and kind != "disabled":
        out["reasoning_effort"] = effort
    fmt = config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt["schema"]},
        }


def _budget_effort(budget: Any) -> str | None:
    if isinstance(budget, bool) or not isinstance(budget, int):
        return None
    if budget < 4000:
        return "low"
    return "medium" if budget < 16000 else "high"


def _shows_thinking(thinking: Any) -> bool:
    """Thinking blocks go back only when asked for and not hidden (`display: omitted`)."""
    return (
        isinstance(thinking, dict)
        and thinking.get("type") in ("enabled", "adaptive")
        and thinking.get("display") != "omitted"
    )


def _user_id(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return user if isinstance(user, str) and user else None
