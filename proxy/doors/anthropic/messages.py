"""Anthropic `system` and `messages` → OpenAI chat messages (frontdoors.md §2).

The ordering rule that matters: a user turn's `tool_result`s become one `tool` message
each, right after the assistant's `tool_calls` and before that turn's other user parts,
because OpenAI-compatible upstreams reject anything between a call and its result.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.doors.anthropic.fields import bad
from proxy.doors.anthropic.tools import ToolNames

BILLING_HEADER = "x-anthropic-billing-header:"  # differs per request: left in, no prompt cache would hit
TOOL_ERROR_PREFIX = "[tool error] "  # chat `tool` messages have no error flag; say it in the text

# Where a block sits: (message index, block number, or _WHOLE for a string `content`). Kept as
# numbers and turned into a path such as `messages.0.content.1` only when an error names it,
# since most requests are valid (a path string per block cost about a tenth of the parse).
At = tuple[int, int]
_WHOLE = -1
Block = tuple[At, dict[str, Any]]  # (where the block sits in the client's body, the block)


def system_message(system: Any) -> dict[str, Any] | None:
    """The leading system message, without Claude Code's per-request billing block."""
    if system is None:
        return None
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    if not isinstance(system, list):
        raise bad("system", "must be a string or an array of text blocks")
    texts = []
    for index, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad(f"system.{index}", "must be a text block")
        text = block.get("text")
        if not isinstance(text, str):
            raise bad(f"system.{index}.text", "must be a string")
        if text and not text.startswith(BILLING_HEADER):
            texts.append(text)
    return {"role": "system", "content": "\n\n".join(texts)} if texts else None


def chat_messages(messages: Any, names: ToolNames) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "must be a non-empty array of messages")
    out: list[dict[str, Any]] = []
    for role, blocks in _turns(messages):
        if role == "user":
            results, message = _user(blocks)
            if results:
                _after_calls(out, results)
        elif role == "system":
            message = _system_turn(blocks)
        else:
            message = _assistant(blocks, names)
        if message is not None:
            out.append(message)
    return out


def _after_calls(out: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    """Tool results go right after the assistant's calls, ahead of any system turn that
    came between (Claude Code sends mid-conversation system turns)."""
    at = len(out)
    while at > 0 and out[at - 1]["role"] == "system":
        at -= 1
    if at == 0 or not out[at - 1].get("tool_calls"):
        at = len(out)  # no calls just before: keep the client's order
    out[at:at] = results


def _turns(messages: list[Any]) -> list[tuple[str, list[Block]]]:
    """Turns as (role, blocks), consecutive turns of one role merged as Anthropic does."""
    turns: list[tuple[str, list[Block]]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad(f"messages.{index}", "must be an object")
        role = message.get("role")
        if role not in ("user", "assistant", "system"):  # system: Claude Code's mid-conversation turns
            raise bad(f"messages.{index}.role", "must be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            blocks: list[Block] = [((index, _WHOLE), {"type": "text", "text": content})]
        elif isinstance(content, list):
            blocks = []
            for number, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    raise bad(f"messages.{index}.content.{number}", "must be a content block with a 'type'")
                blocks.append(((index, number), block))
        else:
            raise bad(f"messages.{index}.content", "must be a string or an array of content blocks")
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return turns


def _path(at: At) -> str:
    """The block's path as Anthropic names it, built only for an error message."""
    index, number = at
    return f"messages.{index}.content" if number == _WHOLE else f"messages.{index}.content.{number}"


def _user(blocks: list[Block]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(one `tool` message per tool_result, the user message with the turn's other parts)."""
    if len(blocks) == 1 and blocks[0][1]["type"] == "text":  # the usual turn: one text, no lists built
        text = _text(*blocks[0])
        return [], {"role": "user", "content": text} if text else None
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    result_images: list[dict[str, Any]] = []
    for at, block in blocks:
        kind = block["type"]
        if kind == "tool_result":
            results.append(_tool_message(_path(at), block, result_images))
        elif kind == "text":
            text = _text(at, block)
            if text:
                parts.append({"type": "text", "text": text})
        elif kind == "image":
            parts.append(_image(_path(at), block))
        elif kind == "document":
            parts.append(_document(_path(at), block))
        else:
            problem = f"content blocks of type '{kind}' are not supported in a user turn"
            raise bad(f"{_path(at)}.type", problem)
    parts = result_images + parts  # chat `tool` messages carry no images: they follow as user parts
    if not parts:
        return results, None
    if len(parts) == 1 and parts[0]["type"] == "text":
        return results, {"role": "user", "content": parts[0]["text"]}
    return results, {"role": "user", "content": parts}


def _system_turn(blocks: list[Block]) -> dict[str, Any] | None:
    texts = [text for at, block in blocks if block["type"] == "text" and (text := _text(at, block))]
    return {"role": "system", "content": "\n\n".join(texts)} if texts else None


def _assistant(blocks: list[Block], names: ToolNames) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for at, block in blocks:
        kind = block["type"]
        if kind == "text":
            text = _text(at, block)
            if text:
                texts.append(text)
        elif kind == "tool_use":
            calls.append(_tool_call(_path(at), block, names))
        # thinking, redacted_thinking and server-tool blocks: nothing an OpenAI upstream reads
    if not texts and not calls:
        return None  # e.g. a turn of thinking blocks only
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _text(where: str | At, block: dict[str, Any]) -> str:
    """The block's text; `where` it sits names it in the error."""
    text = block.get("text")
    if not isinstance(text, str):
        raise bad(f"{where if isinstance(where, str) else _path(where)}.text", "must be a string")
    return text


def _texts(path: str, blocks: list[Any]) -> list[str]:
    texts = []
    for number, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad(f"{path}.{number}", "must be a text block")
        texts.append(_text(f"{path}.{number}", block))
    return texts


def _tool_call(path: str, block: dict[str, Any], names: ToolNames) -> dict[str, Any]:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{path}.id", "must be a non-empty string")
    if not isinstance(name, str) or not name:
        raise bad(f"{path}.name", "must be a non-empty string")
    if not isinstance(arguments, dict):
        raise bad(f"{path}.input", "must be an object")
    function = {"name": names.upstream(name), "arguments": orjson.dumps(arguments).decode()}
    return {"id": call_id, "type": "function", "function": function}


def _tool_message(path: str, block: dict[str, Any], images: list[dict[str, Any]]) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{path}.tool_use_id", "must be a non-empty string")
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for number, part in enumerate(content):
            where = f"{path}.content.{number}"
            if not isinstance(part, dict):
                raise bad(where, "must be a content block")
            if part.get("type") == "text":
                texts.append(_text(where, part))
            elif part.get("type") == "image":
                images.append(_image(where, part))
        text = "\n".join(texts)
    else:
        raise bad(f"{path}.content", "must be a string or an array of content blocks")
    if block.get("is_error"):
        text = TOOL_ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _image(path: str, block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{path}.source", "must be an object")
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not media_type.startswith("image/"):
            raise bad(f"{path}.source.media_type", "must be an image media type such as image/png")
        if not isinstance(data, str) or not data:
            raise bad(f"{path}.source.data", "must be base64 image data")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        link = source.get("url")
        if not isinstance(link, str) or not link:
            raise bad(f"{path}.source.url", "must be a non-empty string")
        url = link
    else:
        raise bad(f"{path}.source.type", "must be 'base64' or 'url' (file sources are not supported here)")
    return {"type": "image_url", "image_url": {"url": url}}


def _document(path: str, block: dict[str, Any]) -> dict[str, Any]:
    """Plain-text documents become text; PDFs and files have no chat-completions form here."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{path}.source", "must be an object")
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        text = source["data"]
    elif source.get("type") == "content" and isinstance(source.get("content"), str | list):
        content = source["content"]
        text = content if isinstance(content, str) else "\n".join(_texts(f"{path}.source.content", content))
    else:
        raise bad(f"{path}.source.type", "only text documents are supported by this gateway")
    title = block.get("title")
    return {"type": "text", "text": f"{title}\n\n{text}" if isinstance(title, str) and title else text}
