"""Anthropic tools and tool_choice → OpenAI function tools (frontdoors.md §1.3).

Server tools (`web_search_20250305`, `code_execution_…`) are Anthropic's to run; no pool
account can, so they are left out quietly rather than failing the whole request.
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxy.doors.anthropic.fields import bad

MAX_NAME = 64  # OpenAI's limit on function names; Anthropic allows longer (MCP tools reach it)
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class ToolNames:
    """Client tool names ↔ the names sent upstream; long names are shortened with a hash
    and mapped back in answers, so the client sees the names it offered."""

    def __init__(self) -> None:
        self._to_client: dict[str, str] = {}

    def upstream(self, name: str) -> str:
        if len(name) <= MAX_NAME:
            return name
        short = f"{name[: MAX_NAME - 9]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        self._to_client[short] = name
        return short

    def client(self, name: str) -> str:
        return self._to_client.get(name, name)


def chat_tools(tools: Any, names: ToolNames) -> list[dict[str, Any]]:
    """Client tools as OpenAI function tools, server tools left out."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise bad("tools", "must be an array of tools")
    out = []
    for index, tool in enumerate(tools):
        path = f"tools.{index}"
        if not isinstance(tool, dict):
            raise bad(path, "must be an object")
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search, code execution…): nothing here can run it
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise bad(f"{path}.name", "must be a non-empty string")
        schema = tool.get("input_schema")
        if schema is None:
            schema = _EMPTY_SCHEMA
        elif not isinstance(schema, dict):
            raise bad(f"{path}.input_schema", "must be a JSON schema object")
        function: dict[str, Any] = {"name": names.upstream(name), "parameters": schema}
        description = tool.get("description")
        if isinstance(description, str) and description:
            function["description"] = description
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: Any, names: ToolNames) -> tuple[str | dict[str, Any] | None, bool]:
    """(OpenAI tool_choice or None for the default, whether parallel calls are allowed)."""
    if choice is None:
        return None, True
    if not isinstance(choice, dict):
        raise bad("tool_choice", 'must be an object such as {"type": "auto"}')
    parallel = not choice.get("disable_parallel_tool_use")
    kind = choice.get("type")
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", parallel
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise bad("tool_choice.name", "must name one of the tools")
        return {"type": "function", "function": {"name": names.upstream(name)}}, parallel
    raise bad("tool_choice.type", "must be one of 'auto', 'any', 'tool', 'none'")
