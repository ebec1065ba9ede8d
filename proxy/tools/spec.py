"""The tools a client offered and how it asked the model to use them (OpenAI shape).

The body was checked on the way in (proxy/request_checks.py), so these readers trust it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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


def offered(body: dict[str, Any]) -> tuple[Tool, ...]:
    """The tools of a checked body, in the order offered."""
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
