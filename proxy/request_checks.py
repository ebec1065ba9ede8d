"""The OpenAI shapes of the chat fields about tools and output, checked before any account.

A malformed field is the client's mistake: it gets a 400 naming the field, here, so the
body never reaches an upstream whose error would cost an account its health. Keys the
shapes do not mention pass through untouched, as everywhere in the body.
"""

from __future__ import annotations

import re
from typing import Any

from proxy.errors import invalid_request

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
TOOL_CHOICES = ("none", "auto", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
MAX_STOP = 4
_OUTPUT_FIELDS = frozenset(("tools", "tool_choice", "parallel_tool_calls", "user", "stop", "response_format"))


def check_output_fields(body: dict[str, Any]) -> set[str]:
    """Check tools, tool_choice, parallel_tool_calls, user, stop and response_format;
    return the names of the offered tools."""
    if _OUTPUT_FIELDS.isdisjoint(body):  # a plain chat sends none of them: one set operation
        return set()
    names = _tools(body.get("tools"))
    _tool_choice(body.get("tool_choice"), names)
    _typed(body.get("parallel_tool_calls"), bool, "parallel_tool_calls", "a boolean")
    _typed(body.get("user"), str, "user", "a string")
    _stop(body.get("stop"))
    _response_format(body.get("response_format"))
    return names


def check_tool_calls(calls: Any, where: str) -> None:
    """An assistant message's `tool_calls`: the calls it made, as the API returned them."""
    if calls is None:
        return
    if not isinstance(calls, list):
        raise invalid_request(f"'{where}' must be an array of tool calls.", where)
    for index, call in enumerate(calls):
        at = f"{where}[{index}]"
        if not isinstance(call, dict) or call.get("type") != "function":
            raise invalid_request(f"'{at}' must be an object with type 'function'.", at)
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise invalid_request(f"'{at}.id' must be a non-empty string.", f"{at}.id")
        function = _object(call.get("function"), f"{at}.function")
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise invalid_request(f"'{at}.function.name' must be a non-empty string.", f"{at}.function.name")
        if not isinstance(function.get("arguments"), str):
            raise invalid_request(
                f"'{at}.function.arguments' must be a string (JSON text).", f"{at}.function.arguments"
            )


def _tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise invalid_request("'tools' must be an array of tools.", "tools")
    names = set()
    for index, tool in enumerate(tools):
        at = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid_request(f"'{at}' must be an object with type 'function' and a 'function'.", at)
        names.add(check_function(tool.get("function"), f"{at}.function"))
    return names


def check_function(function: Any, where: str) -> str:
    """One function's declaration (a tool's, or a legacy `functions` entry); its name."""
    function = _object(function, where)
    name = function.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise invalid_request(
            f"'{where}.name' must be 1 to 64 letters, digits, underscores or dashes.", f"{where}.name"
        )
    _typed(function.get("description"), str, f"{where}.description", "a string")
    _typed(function.get("parameters"), dict, f"{where}.parameters", "an object (a JSON Schema)")
    _typed(function.get("strict"), bool, f"{where}.strict", "a boolean")
    return name


def _tool_choice(choice: Any, names: set[str]) -> None:
    if choice is None or choice in ("none", "auto"):
        return
    if choice == "required":
        if not names:
            raise invalid_request(
                "'tool_choice' 'required' needs at least one tool in 'tools'.", "tool_choice"
            )
        return
    if not isinstance(choice, dict) or choice.get("type") != "function":
        raise invalid_request(
            "'tool_choice' must be 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}.',
            "tool_choice",
        )
    function = _object(choice.get("function"), "tool_choice.function")
    name = function.get("name")
    if not isinstance(name, str) or name not in names:
        offer = ", ".join(sorted(names)) or "none were offered"
        raise invalid_request(
            f"'tool_choice.function.name' must name one of the tools in 'tools' ({offer}).",
            "tool_choice.function.name",
        )


def _stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or len(stop) > MAX_STOP or not all(isinstance(s, str) for s in stop):
        raise invalid_request(f"'stop' must be a string or an array of at most {MAX_STOP} strings.", "stop")


def _response_format(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") not in RESPONSE_FORMATS:
        raise invalid_request(
            "'response_format' must be an object with type 'text', 'json_object' or 'json_schema'.",
            "response_format",
        )
    if value["type"] == "json_schema":
        schema = _object(value.get("json_schema"), "response_format.json_schema")
        name = schema.get("name")
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise invalid_request(
                "'response_format.json_schema.name' must be 1 to 64 letters, digits, underscores or dashes.",
                "response_format.json_schema.name",
            )
        _typed(schema.get("schema"), dict, "response_format.json_schema.schema", "an object (a JSON Schema)")
        _typed(schema.get("strict"), bool, "response_format.json_schema.strict", "a boolean")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_request(f"'{where}' must be an object.", where)
    return value


def _typed(value: Any, kind: type, where: str, described: str) -> None:
    """An optional field: absent or null, or of `kind` (a bool is not taken for a number)."""
    if value is not None and not isinstance(value, kind):
        raise invalid_request(f"'{where}' must be {described}.", where)
