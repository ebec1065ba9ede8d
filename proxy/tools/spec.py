"""The tools a client offered and how it asked the model to use them (OpenAI shape).

Checked on the way in, so a malformed `tools` list is the client's 400 naming the
entry, never something an upstream fails on (which would cost the account its health).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from proxy.errors import invalid_request

ChoiceMode = Literal["auto", "none", "required", "named"]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None  # a JSON schema; None when the tool takes none


@dataclass(frozen=True, slots=True)
class Choice:
    mode: ChoiceMode = "auto"
    name: str | None = None  # the forced tool when mode is "named"


def check_tools(body: dict[str, Any]) -> None:
    """Raise the 400 for a `tools` list or `tool_choice` that is not OpenAI's shape."""
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid_request("'tools' must be an array of function tools.", "tools")
    for index, entry in enumerate(tools):
        _check_tool(entry, f"tools[{index}]")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if choice.get("type") != "function" or not isinstance(name, str) or not name:
            raise invalid_request(
                "'tool_choice' must be 'none', 'auto', 'required' or "
                '{"type": "function", "function": {"name": …}}.',
                "tool_choice",
            )
        if tools and name not in {t["function"]["name"] for t in tools}:
            raise invalid_request(f"'tool_choice' names '{name}', which is not in 'tools'.", "tool_choice")


def _check_tool(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or entry.get("type") != "function":
        raise invalid_request(f'\'{where}\' must be an object with "type": "function".', where)
    function = entry.get("function")
    if not isinstance(function, dict):
        raise invalid_request(f"'{where}.function' must be an object.", f"{where}.function")
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid_request(
            f"'{where}.function.name' must be a non-empty string.", f"{where}.function.name"
        )
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid_request(
            f"'{where}.function.description' must be a string.", f"{where}.function.description"
        )
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid_request(
            f"'{where}.function.parameters' must be a JSON schema object.", f"{where}.function.parameters"
        )


def offered(body: dict[str, Any]) -> tuple[Tool, ...]:
    """The tools of a body that passed `check_tools`."""
    tools = body.get("tools") or ()
    return tuple(
        Tool(
            name=t["function"]["name"],
            description=t["function"].get("description") or "",
            parameters=t["function"].get("parameters"),
        )
        for t in tools
    )


def choice_of(body: dict[str, Any]) -> Choice:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return Choice("named", choice["function"]["name"])
    if choice in ("none", "required"):
        return Choice(choice)
    return Choice("auto")
