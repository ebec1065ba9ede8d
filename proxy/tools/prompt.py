"""The text contract with a model that cannot call tools (issue 11).

The tools and the rules go into the system prompt (Monica folds it into the first
turn or sends it as the Custom Bot prompt, Mammouth sends it as `preprompt`); the
history's tool calls and results are rendered in the same block syntax the model is
asked to answer in, so earlier turns show it what a call looks like.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import orjson

from proxy.request import ChatRequest, Needs, text_of
from proxy.tools.spec import Choice, Tool, choice_of, offered

OPEN, CLOSE = "<tool_call>", "</tool_call>"
RESULT_OPEN, RESULT_CLOSE = "<tool_response>", "</tool_response>"
SYSTEM_ROLES = ("system", "developer")
TOOL_KEYS = ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")

_HOW = """\
# Tools

You can call the tools below. Each line is one tool: its name, what it does, and its
parameters as a JSON schema.

{tools}

To call a tool, answer with a block in exactly this form:
<tool_call>{{"name": "<tool name>", "arguments": {{<the arguments as a JSON object>}}}}</tool_call>

- The arguments must be valid JSON that matches the tool's parameters.
- {parallel}
- You may write a short sentence before the first block; write nothing after the last block.
  Stop there and wait: the results come back in the next user turn as
  <tool_response>{{"name": "<tool name>", "content": <result>}}</tool_response> blocks.
- Never invent a tool result, and do not wrap a block in a code fence.
- {must}"""

_PARALLEL = "To call several tools at once, write one block per call, one after another."
_SINGLE = "Call at most one tool per answer."
_AUTO = "Call a tool only when it helps; otherwise answer normally, without any block."


def tool_line(tool: Tool) -> str:
    """One tool as one line of compact JSON: the cheapest form models read reliably."""
    entry: dict[str, Any] = {"name": tool.name}
    if tool.description:
        entry["description"] = tool.description
    entry["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    return orjson.dumps(entry).decode()


def instructions(tools: tuple[Tool, ...], choice: Choice, *, parallel: bool = True) -> str:
    """The system text that teaches the model the block syntax; "" when it may not call."""
    if choice.mode == "none" or not tools:
        return ""
    if choice.mode == "named":
        must = f"You must call the tool `{choice.name}` in this answer: answer with its block."
    elif choice.mode == "required":
        must = "You must call at least one of these tools in this answer: answer with its block."
    else:
        must = _AUTO
    return _HOW.format(
        tools="\n".join(tool_line(t) for t in tools),
        parallel=_PARALLEL if parallel else _SINGLE,
        must=must,
    )


def call_block(name: str, arguments: Any) -> str:
    """A call in the contract syntax; `arguments` as OpenAI carries it (a JSON string)."""
    if isinstance(arguments, str):
        # An unparsable string is kept as it is: the model sees what was really sent.
        with contextlib.suppress(orjson.JSONDecodeError):
            arguments = orjson.loads(arguments) if arguments.strip() else {}
    return f"{OPEN}{orjson.dumps({'name': name, 'arguments': arguments}).decode()}{CLOSE}"


def result_block(name: str, content: str) -> str:
    return f"{RESULT_OPEN}{orjson.dumps({'name': name, 'content': content}).decode()}{RESULT_CLOSE}"


def render_history(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with every tool call and result as text in the contract syntax.

    Consecutive tool results (the answers to one turn's parallel calls) become one user
    turn; a user message right after them joins that turn, so turns still alternate.
    """
    names: dict[str, str] = {}  # tool_call_id -> tool name, to name each result
    out: list[dict[str, Any]] = []
    results: list[str] = []
    for message in messages:
        role = message.get("role")
        if role in ("tool", "function"):
            name = message.get("name") or names.get(str(message.get("tool_call_id")), "") or "tool"
            results.append(result_block(str(name), text_of(message)))
            continue
        if results:
            out.append(_results_turn(results, message if role == "user" else None))
            results = []
            if role == "user":
                continue
        if role == "assistant":
            message = _assistant(message, names)
        out.append(message)
    if results:
        out.append(_results_turn(results, None))
    return out


def _assistant(message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    blocks = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        name = str(function.get("name") or "")
        names[str(call.get("id"))] = name
        blocks.append(call_block(name, function.get("arguments")))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        blocks.append(call_block(str(legacy.get("name") or ""), legacy.get("arguments")))
    if not blocks:
        return message
    text = "\n".join(filter(None, [text_of(message), *blocks]))
    return {"role": "assistant", "content": text}


def _results_turn(results: list[str], user: dict[str, Any] | None) -> dict[str, Any]:
    text = "\n".join(results)
    if user is None:
        return {"role": "user", "content": text}
    content = user.get("content")
    if isinstance(content, list):  # keep image parts: the results go first as a text part
        return {**user, "content": [{"type": "text", "text": text}, *content]}
    said = text_of(user)
    return {**user, "content": f"{text}\n\n{said}" if said else text}


@dataclasses.dataclass(frozen=True)
class Emulation:
    """A request rewritten for a provider without tools, and what its answer may call."""

    request: ChatRequest
    tools: tuple[Tool, ...]
    choice: Choice
    prompt: str  # the injected instructions ("" for tool_choice none)

    @property
    def names(self) -> frozenset[str]:
        """The tools the parser accepts: none at all when the model may not call."""
        return frozenset(t.name for t in self.tools) if self.prompt else frozenset()


def rewrite(request: ChatRequest) -> Emulation:
    """The request without tool fields, its history rendered, the instructions in its system text."""
    tools = offered(request.body)
    choice = choice_of(request.body)
    prompt = instructions(tools, choice, parallel=request.body.get("parallel_tool_calls") is not False)
    messages = render_history(request.messages)
    if prompt:
        lead = next((i for i, m in enumerate(messages) if m.get("role") not in SYSTEM_ROLES), len(messages))
        messages.insert(lead, {"role": "system", "content": prompt})  # after the client's own system text
    body = {k: v for k, v in request.body.items() if k not in TOOL_KEYS}
    body["messages"] = messages
    rewritten = dataclasses.replace(
        request,
        body=body,
        has_tools=False,
        needs=Needs(tools=False, vision=request.needs.vision),
        raw=b"",
        _cache={},
    )
    return Emulation(rewritten, tools, choice, prompt)
