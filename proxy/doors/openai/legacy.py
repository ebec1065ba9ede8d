"""Legacy function calling (`functions` and `function_call`, OpenAI's form before `tools`),
as older clients and frameworks still send it: translated to tools at the door, so every
account sees one form (native upstreams get `tools`, emulated ones the tool prompt), and
answered in the legacy shape (`message.function_call`, `finish_reason: function_call`).

The legacy form carries one call per answer, so parallel calls are turned off; should a
model still make several, the first is the answer.
"""

from __future__ import annotations

from typing import Any

from proxy.errors import invalid_request
from proxy.request_checks import check_function

LEGACY_KEYS = ("functions", "function_call")


def uses_functions(body: dict[str, Any]) -> bool:
    return "functions" in body or "function_call" in body


def as_tools(body: dict[str, Any]) -> dict[str, Any]:
    """The body with `functions` as `tools`, `function_call` as `tool_choice`, and the
    history's function calls and results as tool calls and tool messages."""
    functions = body.get("functions")
    if body.get("tools") is not None:
        raise invalid_request("Send either 'tools' or the legacy 'functions', not both.", "functions")
    if functions is not None and not isinstance(functions, list):
        raise invalid_request("'functions' must be an array of functions.", "functions")
    names = {check_function(f, f"functions[{i}]") for i, f in enumerate(functions or ())}
    out = {k: v for k, v in body.items() if k not in LEGACY_KEYS}
    choice = _choice(body.get("function_call"), names)
    if functions:
        out["tools"] = [{"type": "function", "function": f} for f in functions]
        out["parallel_tool_calls"] = False
    if choice is not None:
        out["tool_choice"] = choice
    messages = body.get("messages")
    if isinstance(messages, list):
        out["messages"] = _history(messages)
    return out


def _choice(choice: Any, names: set[str]) -> Any:
    if choice is None or choice in ("none", "auto"):
        return choice
    name = choice.get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str) or name not in names:
        offer = ", ".join(sorted(names)) or "none were offered"
        raise invalid_request(
            "'function_call' must be 'none', 'auto' or {\"name\": ...} naming one of "
            f"'functions' ({offer}).",
            "function_call",
        )
    return {"type": "function", "function": {"name": name}}


def _history(messages: list[Any]) -> list[Any]:
    """Assistant `function_call`s become `tool_calls` with ids, `function` results become
    `tool` messages answering them (matched by name, in order)."""
    waiting: dict[str, list[str]] = {}  # function name -> ids of its calls not yet answered
    out: list[Any] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            out.append(message)
            continue
        call = message.get("function_call")
        if message.get("role") == "assistant" and isinstance(call, dict):
            call_id = f"call_legacy_{index}"
            name = call.get("name")
            waiting.setdefault(str(name), []).append(call_id)
            function = {"name": name, "arguments": call.get("arguments")}
            rest = {k: v for k, v in message.items() if k != "function_call"}
            out.append({**rest, "tool_calls": [{"id": call_id, "type": "function", "function": function}]})
        elif message.get("role") == "function":
            ids = waiting.get(str(message.get("name")))
            call_id = ids.pop(0) if ids else f"call_legacy_{index}"
            out.append({"role": "tool", "tool_call_id": call_id, "content": message.get("content")})
        else:
            out.append(message)
    return out


def function_call(name: str | None, arguments: str) -> dict[str, str]:
    """A call in the legacy shape (a stream's later pieces carry only `arguments`)."""
    return {"name": name, "arguments": arguments} if name is not None else {"arguments": arguments}


def finish_reason(reason: str | None) -> str | None:
    return "function_call" if reason == "tool_calls" else reason
