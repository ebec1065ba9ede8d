"""Responses `input` items → chat-completions messages.

The pitfalls other gateways hit live here: assistant text and the calls beside it
become one assistant message; every tool result sits right after the message that
made its call (whatever order the items came in); tool outputs sent as arrays become
text; reasoning and other replayed item types the upstream cannot read are dropped,
never refused.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.doors.responses.errors import invalid
from proxy.doors.responses.tools import ToolNames

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "refusal")


def to_messages(input_: Any, names: ToolNames) -> list[dict[str, Any]]:
    """The chat messages for a Responses `input` (a string or a list of items)."""
    if isinstance(input_, str):
        return [{"role": "user", "content": input_}]
    if not isinstance(input_, list) or not input_:
        raise invalid("'input' must be a string or a non-empty array of items.", "input")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(input_):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise invalid(f"'{where}' must be an object.", where)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, where))
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            _add_call(messages, _call(item, kind, where, names))
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            messages.append(_output(item, where))
        elif kind == "item_reference":
            raise invalid(
                f"'{where}' is an item_reference; this gateway keeps no items, send the item itself.", where
            )
        elif isinstance(kind, str):
            continue  # reasoning, compaction, hosted tool calls…: nothing a chat upstream reads
        else:
            raise invalid(f"'{where}.type' is required.", f"{where}.type")
    return _results_after_calls(messages)


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = _ROLES.get(item.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise invalid(f"'{where}.role' must be one of user, assistant, system, developer.", f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise invalid(f"'{where}.content' must be a string or an array of parts.", f"{where}.content")
    parts = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    if role != "user" or all(p["type"] == "text" for p in parts):
        # system and assistant turns take text; a user turn of text reads the same joined
        return {"role": role, "content": "\n".join(p["text"] for p in parts if p["type"] == "text")}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise invalid(f"'{where}' must be an object.", where)
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        text = part.get("text", part.get("refusal", ""))
        if not isinstance(text, str):
            raise invalid(f"'{where}.text' must be a string.", f"{where}.text")
        return {"type": "text", "text": text}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            if part.get("file_id"):
                raise invalid(
                    f"'{where}.file_id': uploaded files are not supported here; send 'image_url' "
                    "(an https URL or a data: URL).",
                    f"{where}.file_id",
                )
            raise invalid(f"'{where}.image_url' is required.", f"{where}.image_url")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        raise invalid(f"'{where}': input_file parts are not supported by this gateway.", where)
    raise invalid(f"'{where}.type' must be input_text, input_image or output_text.", f"{where}.type")


def _call(item: dict[str, Any], kind: str, where: str, names: ToolNames) -> dict[str, Any]:
    call_id = item.get("call_id") or item.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"'{where}.call_id' is required.", f"{where}.call_id")
    if kind == "local_shell_call":
        name, arguments = "local_shell", orjson.dumps(item.get("action") or {}).decode()
    else:
        given = item.get("name")
        if not isinstance(given, str) or not given:
            raise invalid(f"'{where}.name' is required.", f"{where}.name")
        name = names.upstream(given, item.get("namespace"))
        if kind == "custom_tool_call":
            arguments = orjson.dumps({"input": str(item.get("input", ""))}).decode()
        else:
            arguments = item.get("arguments", "")
            if not isinstance(arguments, str):
                raise invalid(f"'{where}.arguments' must be a JSON string.", f"{where}.arguments")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments or "{}"}}


def _add_call(messages: list[dict[str, Any]], call: dict[str, Any]) -> None:
    """A call joins the assistant turn it belongs to: the text just before it, or the calls
    it runs in parallel with; only a call after a tool result starts a new turn."""
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        if not last.get("content"):
            last["content"] = None
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _output(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"'{where}.call_id' is required.", f"{where}.call_id")
    output = item.get("output", "")
    if isinstance(output, list):  # content parts: the text of them, in order
        output = "\n".join(
            str(p.get("text", "")) for p in output if isinstance(p, dict) and p.get("type") in _TEXT_PARTS
        )
    elif not isinstance(output, str):
        output = orjson.dumps(output).decode()
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _results_after_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move each tool result right after the assistant message that made its call, as chat
    upstreams require; a result for no known call becomes a user turn, not an orphan."""
    results = {m["tool_call_id"]: m for m in messages if m["role"] == "tool"}
    if not results:
        return messages
    calls = {c["id"] for m in messages for c in m.get("tool_calls") or ()}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            if message["tool_call_id"] not in calls:
                text = f"[tool result for {message['tool_call_id']}]\n{message['content']}"
                ordered.append({"role": "user", "content": text})
            continue
        ordered.append(message)
        for call in message.get("tool_calls") or ():
            result = results.get(call["id"])
            if result is not None and call["id"] not in placed:
                ordered.append(result)
                placed.add(call["id"])
    return ordered
