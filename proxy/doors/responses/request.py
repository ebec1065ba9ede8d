"""`POST /v1/responses` body → the chat-completions body → `ChatRequest`.

The door is stateless: the client sends the whole conversation (Codex does, with
`store: false`), so `previous_response_id` is refused. Fields that only make sense
to OpenAI's own servers (`store`, `include`, `prompt_cache_key`, `client_metadata`,
`metadata`, `text.verbosity`, …) are accepted and never forwarded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from proxy.doors.responses.errors import invalid, previous_response_not_found
from proxy.doors.responses.items import to_messages
from proxy.doors.responses.tools import ToolNames, convert_tool_choice, convert_tools
from proxy.request import ChatRequest, Needs, chat_request, parse_json_body

# Echoed into the `response` object as the client sent them (OpenAI does the same).
_ECHOED = (
    "instructions",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "previous_response_id",
    "reasoning",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "truncation",
    "user",
)
_ECHOED_SET = frozenset(_ECHOED)
_SAMPLING = frozenset(("max_output_tokens", "temperature", "top_p", "reasoning", "text"))


@dataclass
class ResponsesRequest:
    chat: ChatRequest  # what the pool runs
    names: ToolNames  # upstream tool names → the client's tools
    model: str  # as the client named it, echoed back
    echo: dict[str, Any]  # request fields the `response` object repeats
    session: str | None = None  # `prompt_cache_key`: Codex sends one per conversation


def parse_responses(
    raw: bytes, aliases: dict[str, str], default_model: str | None = None
) -> ResponsesRequest:
    body = parse_json_body(raw)
    previous = body.get("previous_response_id") or body.get("conversation")
    if previous:
        raise previous_response_not_found(previous if isinstance(previous, str) else "conversation")
    model = body.get("model") or default_model
    if not isinstance(model, str) or not model.strip():
        raise invalid("'model' is required and must be a non-empty string.", "model")
    names = ToolNames()
    chat_body = _chat_body(body, model, names)
    chat = chat_request(chat_body, aliases)  # already decoded: no JSON round trip
    # A Responses client asking for tools is an agent: tools it cannot use break it
    # (it narrates instead of acting), so only accounts that can call tools qualify.
    if chat.has_tools and not chat.needs.tools and chat.body.get("tool_choice") != "none":
        chat = dataclasses.replace(chat, needs=Needs(tools=True, vision=chat.needs.vision))
    # in _ECHOED's order, as the response object lists them; most bodies send none of them
    echo = {} if _ECHOED_SET.isdisjoint(body) else {key: body[key] for key in _ECHOED if key in body}
    key = body.get("prompt_cache_key")
    session = key if isinstance(key, str) and key else None
    return ResponsesRequest(chat, names, model, echo, session)


def _chat_body(body: dict[str, Any], model: str, names: ToolNames) -> dict[str, Any]:
    messages = to_messages(body.get("input"), names)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid("'instructions' must be a string.", "instructions")
    if instructions:
        messages.insert(0, {"role": "system", "content": instructions})
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise invalid("'stream' must be a boolean.", "stream")
    chat: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream:
        chat["stream_options"] = {"include_usage": True}
    tools = convert_tools(body["tools"], names) if "tools" in body else None
    if tools:
        chat["tools"] = tools
        choice = convert_tool_choice(body.get("tool_choice"), names, tools)
        if choice is not None:
            chat["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if not _SAMPLING.isdisjoint(body):  # a set operation skips the checks for bodies without them
        _copy_sampling(body, chat)
    return chat


def _copy_sampling(body: dict[str, Any], chat: dict[str, Any]) -> None:
    limit = body.get("max_output_tokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise invalid("'max_output_tokens' must be a positive integer.", "max_output_tokens")
        chat["max_tokens"] = limit
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]  # parse_chat checks the range under the same name
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise invalid("'reasoning' must be an object.", "reasoning")
    effort = (reasoning or {}).get("effort")
    if effort is not None:
        if effort not in ("none", "minimal", "low", "medium", "high", "xhigh"):
            raise invalid(
                "'reasoning.effort' must be none, minimal, low, medium, high or xhigh.", "reasoning.effort"
            )
        chat["reasoning_effort"] = effort
    text = body.get("text")
    format_ = text.get("format") if isinstance(text, dict) else None
    if isinstance(format_, dict):
        response_format = _response_format(format_)
        if response_format is not None:
            chat["response_format"] = response_format


def _response_format(format_: dict[str, Any]) -> dict[str, Any] | None:
    kind = format_.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: format_[k] for k in ("name", "schema", "strict", "description") if k in format_}
        schema.setdefault("name", "response")
        return {"type": "json_schema", "json_schema": schema}
    return None  # plain text is the default
