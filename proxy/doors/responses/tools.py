"""Responses tools → chat-completions tools, and the names that map calls back.

Responses tools are flat (`{type: function, name, parameters}`), may be grouped in a
`namespace`, or be `custom` (free-form text input). Chat upstreams know only flat
functions, so namespaced functions are offered under one joined name and `custom`
tools as a function taking one string; `ToolNames` turns a call's upstream name back
into what the client declared. Hosted tools (web_search, file_search, …) cannot run
here: they are left out, never refused, since Codex always sends one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from proxy.doors.responses.errors import invalid

_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SEPARATOR = "__"

ToolKind = Literal["function", "custom"]


@dataclass(frozen=True, slots=True)
class ClientTool:
    """A tool as the client declared it: its kind, name and namespace (if any)."""

    kind: ToolKind
    name: str
    namespace: str | None = None


@dataclass
class ToolNames:
    """Upstream function names ⇄ the client's tools."""

    by_upstream: dict[str, ClientTool] = field(default_factory=dict)

    def client(self, upstream_name: str) -> ClientTool:
        """The tool a call names; an undeclared name comes back as a plain function."""
        return self.by_upstream.get(upstream_name) or ClientTool("function", upstream_name)

    def upstream(self, name: str, namespace: str | None = None) -> str:
        """The upstream name for a call in the client's history."""
        if namespace and namespace != name:
            return _joined(namespace, name)
        return name


def _joined(namespace: str, name: str) -> str:
    """`ns__name`, kept within OpenAI's 64 characters by a short hash when too long."""
    joined = f"{namespace}{_SEPARATOR}{name}"
    if _NAME_OK.match(joined):
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", joined)
    return f"{safe[:55]}_{digest}"


def convert_tools(tools: Any, names: ToolNames) -> list[dict[str, Any]]:
    """The chat `tools` for a Responses `tools` array; fills `names` as it goes."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise invalid("'tools' must be an array.", "tools")
    converted: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid(f"'{where}' must be an object.", where)
        kind = tool.get("type")
        if kind == "namespace":
            converted.extend(_namespace(tool, where, names))
        elif kind in ("function", "custom"):
            converted.append(_one(tool, where, names, None))
        # hosted tools (web_search, file_search, local_shell, mcp, tool_search, …) stay out
    return converted


def _namespace(tool: dict[str, Any], where: str, names: ToolNames) -> list[dict[str, Any]]:
    namespace = tool.get("name")
    if not isinstance(namespace, str) or not namespace:
        raise invalid(f"'{where}.name' is required for a namespace tool.", f"{where}.name")
    inner = tool.get("tools")
    if not isinstance(inner, list):
        raise invalid(f"'{where}.tools' must be an array.", f"{where}.tools")
    return [
        _one(item, f"{where}.tools[{index}]", names, namespace)
        for index, item in enumerate(inner)
        if isinstance(item, dict) and item.get("type") in ("function", "custom")
    ]


def _one(tool: dict[str, Any], where: str, names: ToolNames, namespace: str | None) -> dict[str, Any]:
    if isinstance(tool.get("function"), dict):
        raise invalid(
            f"'{where}' is a chat-completions tool; the Responses API takes flat tools: "
            '{"type": "function", "name": …, "parameters": …}.',
            where,
        )
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"'{where}.name' is required.", f"{where}.name")
    kind: ToolKind = "custom" if tool.get("type") == "custom" else "function"
    upstream = names.upstream(name, namespace)
    names.by_upstream[upstream] = ClientTool(kind, name, namespace)
    function: dict[str, Any] = {"name": upstream}
    description = tool.get("description")
    if kind == "custom":
        function["description"] = _custom_description(description, tool.get("format"))
        function["parameters"] = {
            "type": "object",
            "properties": {"input": {"type": "string", "description": "The tool's input, verbatim."}},
            "required": ["input"],
        }
    else:
        if isinstance(description, str):
            function["description"] = description
        function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _custom_description(description: Any, format_: Any) -> str:
    text = description if isinstance(description, str) else ""
    if isinstance(format_, dict) and format_.get("type") == "grammar":
        syntax, definition = format_.get("syntax", ""), format_.get("definition", "")
        text += f"\nThe input must follow this {syntax} grammar:\n{definition}"
    return text.strip()


def convert_tool_choice(choice: Any, names: ToolNames, offered: list[dict[str, Any]]) -> Any:
    """The chat `tool_choice`, or None to leave it out (no tools upstream, or hosted-only)."""
    if choice is None or not offered:
        return None
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom") and isinstance(choice.get("name"), str):
            upstream = names.upstream(choice["name"], choice.get("namespace"))
            if upstream in names.by_upstream:
                return {"type": "function", "function": {"name": upstream}}
            raise invalid(f"'tool_choice' names '{choice['name']}', which is not in 'tools'.", "tool_choice")
        if kind == "allowed_tools":
            mode = choice.get("mode")
            return mode if mode in ("auto", "required") else "auto"
        return "auto"  # a hosted tool: it is not offered upstream, so let the model choose
    raise invalid("'tool_choice' must be 'none', 'auto', 'required' or an object.", "tool_choice")
