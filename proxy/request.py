"""The OpenAI chat body: parsed, validated, and the few views providers need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.config.aliases import resolve_alias
from proxy.errors import invalid_json, invalid_request
from proxy.request_checks import check_output_fields, check_tool_calls

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_TOOL_KEYS = ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")


@dataclass(frozen=True)
class Needs:
    """What an account's provider must support to take this request."""

    tools: bool = False  # tool_choice required / named: only tool-capable accounts
    vision: bool = False  # image parts in the messages


_NONE, _VISION = Needs(), Needs(vision=True)  # shared: most requests need nothing special


@dataclass
class ChatRequest:
    body: dict[str, Any]  # as the client sent it (unknown fields are forwarded)
    model: str  # after alias resolution
    requested_model: str  # as the client named it
    stream: bool
    include_usage: bool
    has_tools: bool
    needs: Needs
    raw: bytes = b""  # the original bytes, reused when nothing changes
    passthrough: bool = False  # the OpenAI door relays an OpenAI upstream's own bytes (Raw events)
    session: str | None = None  # the client's conversation id (x-session-id, prompt_cache_key)
    legacy_functions: bool = False  # sent `functions`: the OpenAI door answers with `function_call`
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]  # type: ignore[no-any-return]

    def upstream_body(self, *, force_usage: bool) -> bytes:
        """The body for an OpenAI-compatible upstream: model resolved, usage requested."""
        key = f"upstream:{force_usage}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        body = self.body
        change = self.model != self.requested_model
        if force_usage and self.stream and not self.include_usage:
            body = {
                **body,
                "stream_options": {**(body.get("stream_options") or {}), "include_usage": True},
            }
            change = True
        data = orjson.dumps({**body, "model": self.model}) if change else self.raw or orjson.dumps(body)
        self._cache[key] = data
        return data

    def without_tools(self) -> ChatRequest:
        """This request for a provider that cannot call tools (DESIGN §7 drop policy)."""
        cached = self._cache.get("without_tools")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        body = {k: v for k, v in self.body.items() if k not in _TOOL_KEYS}
        body["messages"] = [_tool_free(m) for m in self.messages]
        stripped = ChatRequest(
            body=body,
            model=self.model,
            requested_model=self.requested_model,
            stream=self.stream,
            include_usage=self.include_usage,
            has_tools=False,
            needs=self.needs,
            passthrough=self.passthrough,
            session=self.session,
        )
        self._cache["without_tools"] = stripped
        return stripped


def _tool_free(message: dict[str, Any]) -> dict[str, Any]:
    """Tool results and tool calls rendered as plain text turns."""
    role = message.get("role")
    if role in ("tool", "function"):
        name = message.get("name") or message.get("tool_call_id") or "tool"
        return {"role": "user", "content": f"[tool result from {name}]\n{text_of(message)}"}
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        rendered = [
            f"[called tool {c.get('function', {}).get('name', '?')}"
            f"({c.get('function', {}).get('arguments', '')})]"
            for c in calls
            if isinstance(c, dict)
        ]
        text = "\n".join(filter(None, [text_of(message), *rendered]))
        return {"role": "assistant", "content": text}
    return message


def text_of(message: dict[str, Any]) -> str:
    """The text of a message: a string, or its text parts joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text")
        )
    return ""


def image_urls(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    urls = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            if isinstance(url, str) and url:
                urls.append(url)
    return urls


def parse_json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_json(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid_json("The request body must be a JSON object.")
    return body


def parse_chat(raw: bytes, aliases: dict[str, str]) -> ChatRequest:
    """Validate the fields the gateway relies on; anything else passes through untouched."""
    return chat_request(parse_json_body(raw), aliases, raw)


def chat_request(body: dict[str, Any], aliases: dict[str, str], raw: bytes = b"") -> ChatRequest:
    """A chat body already decoded (a door that translated its own protocol into one)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid_request("'model' is required and must be a non-empty string.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("'messages' must be a non-empty array of messages.", "messages")
    vision = False
    for index, message in enumerate(messages):
        vision = _check_message(message, index) or vision
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise invalid_request("'stream' must be a boolean.", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid_request("'stream_options' must be an object.", "stream_options")
    _check_optional(body)
    session = body.get("prompt_cache_key")
    if session is not None and not isinstance(session, str):
        raise invalid_request("'prompt_cache_key' must be a string.", "prompt_cache_key")
    tools = check_output_fields(body)
    choice = body.get("tool_choice")
    forced = isinstance(choice, dict) or choice == "required"
    return ChatRequest(
        body=body,
        model=resolve_alias(aliases, model),
        requested_model=model,
        stream=stream,
        include_usage=bool(stream and options and options.get("include_usage")),
        has_tools=bool(tools) or bool(body.get("functions")),
        needs=Needs(tools=True, vision=vision) if tools and forced else _VISION if vision else _NONE,
        raw=raw,
        session=session or None,
    )


def _check_message(message: Any, index: int) -> bool:
    """Raise on a malformed message; return whether it carries an image."""
    if not isinstance(message, dict):
        raise invalid_request(f"'messages[{index}]' must be an object.", f"messages[{index}]")
    role = message.get("role")
    if role not in ROLES:
        where = f"messages[{index}].role"
        raise invalid_request(f"'{where}' must be one of {', '.join(ROLES)}.", where)
    content = message.get("content")
    if type(content) is str and message.get("tool_calls") is None:
        return False  # the common message: no field name is built
    where = f"messages[{index}]"
    check_tool_calls(message.get("tool_calls"), f"{where}.tool_calls")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return False
        if role in ("assistant", "tool"):
            return False
        raise invalid_request(f"'{where}.content' is required.", f"{where}.content")
    if isinstance(content, str):
        return False
    if not isinstance(content, list):
        raise invalid_request(
            f"'{where}.content' must be a string or an array of content parts.", f"{where}.content"
        )
    has_image = False
    for part_index, part in enumerate(content):
        part_where = f"{where}.content[{part_index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid_request(f"'{part_where}' must be an object with a 'type'.", part_where)
        if part["type"] == "image_url":
            if not image_urls({"content": [part]}):
                raise invalid_request(f"'{part_where}.image_url.url' is required.", f"{part_where}.image_url")
            has_image = True
    return has_image


_NUMBERS = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_COUNTS = ("max_tokens", "max_completion_tokens", "n")
_OPTIONAL = frozenset((*_NUMBERS, *_COUNTS))


def _check_optional(body: dict[str, Any]) -> None:
    if _OPTIONAL.isdisjoint(body):  # most bodies send none: one set operation
        return
    for name, (low, high) in _NUMBERS.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise invalid_request(f"'{name}' must be a number between {low:g} and {high:g}.", name)
    for name in _COUNTS:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid_request(f"'{name}' must be a positive integer.", name)


__all__ = ["ChatRequest", "Needs", "chat_request", "image_urls", "parse_chat", "text_of"]
