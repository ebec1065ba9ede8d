"""OpenAI chat JSON read into typed events: for every door but the OpenAI fast path.

`ChunkReader` turns one stream's `chat.completion.chunk` payloads into text, reasoning
and tool-call deltas, remembering the finish reason and usage for the stream's end;
`reply_of` reads a `chat.completion` body the same way. Only choice 0 is read: the
doors that take typed events answer with one choice.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from proxy.core.events import (
    Event,
    FinishReason,
    ReasoningDelta,
    Reply,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from proxy.providers.openai.template import ChunkTemplate

_NO_TEMPLATE = ("", "", sys.maxsize)  # no event is that long: none is read as a template's
_RUN = 4  # a block of fewer events is read one by one: a run's check would cost more

_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason(raw: Any) -> FinishReason:
    """The upstream's reason in the domain's terms; anything unknown ended normally."""
    return _REASONS.get(raw, "stop") if isinstance(raw, str) else "stop"


def usage_of(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    try:
        usage = Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))
        details = raw.get("prompt_tokens_details")
        if isinstance(details, dict):
            usage.cached_tokens = int(details.get("cached_tokens") or 0)
    except (TypeError, ValueError):
        return None
    return usage


def _reasoning(part: dict[str, Any]) -> str:
    """`reasoning_content` (DeepSeek and most relays) or `reasoning` (OpenRouter, vLLM)."""
    value = part.get("reasoning_content") or part.get("reasoning")
    return value if isinstance(value, str) else ""


def _function(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    return function if isinstance(function, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _plain(delta: dict[str, Any]) -> bool:
    """Whether a delta carries nothing but its content (vLLM, DeepSeek and relays repeat
    `role` or a null `reasoning_content` in every chunk)."""
    if delta.get("reasoning_content") or delta.get("reasoning") or delta.get("tool_calls"):
        return False
    return delta.get("function_call") is None


class ChunkReader:
    """One stream's chunks → events; `finish`, `usage` and what was said kept for the end.

    Chunks are read a block at a time (`feed` the block's SSE events, or `read` each
    payload, then `take`): the pieces of one kind that follow each other in a block (text,
    reasoning, one call's arguments) leave as one event, so an upstream read becomes one
    write to the client, not one per token; a block is taken as soon as it arrived, so
    nothing waits for a later read.
    """

    __slots__ = ("_events", "_learning", "_run", "_run_of", "_template", "error", "finish", "said", "usage")

    def __init__(self) -> None:
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.error: dict[str, Any] | None = None  # a chunk that was an error, not an answer
        self.said: list[str] = []  # every piece of output, to estimate usage if none comes
        self._events: list[Event] = []  # the block's events so far, the run aside
        self._run: list[str] = []  # the pieces of the event being merged
        self._run_of: type[TextDelta] | type[ReasoningDelta] | ToolCallDelta | None = None
        self._template: ChunkTemplate | None = None  # the stream's text chunk (template.py)
        self._learning = True

    def feed(self, block: bytes) -> bool:
        """Reads whole SSE events (`data:` lines of chunks; lines end with LF or CRLF, as
        `boundary` cuts them) into the block being read; whether `[DONE]` was among them
        (then what follows it is not read)."""
        template = self._template
        # the template's test, inlined: it runs for nearly every chunk (template.py)
        prefix, suffix, least = _NO_TEMPLATE if template is None else template.parts
        start, end = len(prefix), -len(suffix)
        events = block.decode(errors="replace").split("\n\n")
        position, count = 0, len(events)
        whole = count > _RUN  # the block's text chunks may be read as one run (one try)
        while position < count:
            event = events[position]
            position += 1
            if len(event) >= least and event.startswith(prefix) and event.endswith(suffix):
                text = event[start:end]
                if '"' not in text and "\\" not in text and "\n" not in text:  # an escape, two lines
                    if whole and template is not None:
                        whole = False
                        found = template.run(events, position)
                        if found is not None:
                            more, position = found
                            text += more
                    if text:
                        self._piece(TextDelta, text)
                    continue
            for line in event.split("\n"):
                if line[:5] != "data:":
                    continue
                if "[DONE]" in line and line[5:].strip() == "[DONE]":
                    return True
                try:
                    payload = orjson.loads(line[5:])  # JSON's own whitespace rules skip the space
                except orjson.JSONDecodeError:
                    continue
                said = self.read(payload)
                if said is not None and self._learning and ChunkTemplate.teaches(said):
                    self._learning = False  # one try: an upstream's layout does not change
                    self._template = template = ChunkTemplate.of(line, said)
                    if template is not None:
                        prefix, suffix, least = template.parts
                        start, end = len(prefix), -len(suffix)
        return False

    def read(self, payload: Any) -> str | None:
        """One chunk's payload (any JSON value) into the block being read; the text when
        the chunk is made of nothing else (a delta of its `content` alone, no usage)."""
        if type(payload) is not dict:
            return None
        raw_usage = payload.get("usage")
        if raw_usage is not None:
            usage = usage_of(raw_usage)
            if usage is not None:
                self.usage = usage
        choices = payload.get("choices")
        if type(choices) is list and len(choices) == 1:
            # the hot path, most chunks of every stream: `{"content": "…"}` in choice 0 alone
            choice = choices[0]
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and choice.get("finish_reason") is None:
                content = delta.get("content")
                if (
                    type(content) is str
                    and choice.get("index", 0) == 0
                    and (len(delta) == 1 or _plain(delta))
                ):
                    if content:
                        self._piece(TextDelta, content)
                    return content if len(delta) == 1 and raw_usage is None else None
        if isinstance(payload.get("error"), dict):
            self.error = payload
            return None
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._deltas(delta)
            if choice.get("finish_reason") is not None:
                self.finish = finish_reason(choice["finish_reason"])
        return None

    def take(self, ends: bool = False) -> list[Event]:
        """The events of the chunks read since the last `take`; `ends`: the answer ended
        with them (the last says so)."""
        self._flush(ends)
        events, self._events = self._events, []
        return events

    def _deltas(self, delta: dict[str, Any]) -> None:
        reasoning = _reasoning(delta)
        if reasoning:
            self._piece(ReasoningDelta, reasoning)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._piece(TextDelta, content)
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else ()):
            if not isinstance(call, dict):
                continue
            function = _function(call)
            index = call.get("index")
            self._call(
                ToolCallDelta(
                    index=index if isinstance(index, int) else position,
                    id=_text(call.get("id")),
                    name=_text(function.get("name")),
                    arguments=_text(function.get("arguments")) or "",
                )
            )
        legacy = delta.get("function_call")  # the pre-tools form: one call, index 0
        if isinstance(legacy, dict):
            name, arguments = _text(legacy.get("name")), _text(legacy.get("arguments")) or ""
            self._call(ToolCallDelta(0, None, name, arguments))

    def _piece(self, kind: type[TextDelta] | type[ReasoningDelta], text: str) -> None:
        if self._run_of is not kind:
            self._flush()
            self._run_of = kind
        self._run.append(text)

    def _call(self, piece: ToolCallDelta) -> None:
        """A call's argument fragment joins the pieces before it, unless it may be a snapshot
        of all the arguments so far (some upstreams send those, and the doors tell them by
        the text sent before): one that starts with "{" after some text leaves apart."""
        run = self._run_of
        if (
            isinstance(run, ToolCallDelta)
            and run.index == piece.index
            and piece.id in (None, run.id)
            and piece.name in (None, run.name)
            and (not piece.arguments.startswith("{") or not any(self._run))
        ):
            self._run.append(piece.arguments)
            return
        self._flush()
        self._run_of = piece
        self._run.append(piece.arguments)

    def _flush(self, ends: bool = False) -> None:
        run, kind = self._run, self._run_of
        if kind is None:
            return
        text = run[0] if len(run) == 1 else "".join(run)
        run.clear()
        self._run_of = None
        if isinstance(kind, ToolCallDelta):
            self._events.append(ToolCallDelta(kind.index, kind.id, kind.name, text, ends))
            self.said.append((kind.name or "") + text)
        else:
            self._events.append(kind(text, ends))
            self.said.append(text)


def relayed_reply(body: dict[str, Any], data: bytes) -> Reply | None:
    """The reply of a body the OpenAI door sends on as it came: only its text (for the body
    log) and usage are read, not its calls and reasoning (~130 fewer bytecodes a request);
    None without usage, which is then estimated from the whole reply."""
    usage = usage_of(body.get("usage"))
    if usage is None:
        return None
    _, message = _first_choice(body)
    return Reply(text=_text(message.get("content")) or "", usage=usage, raw=data)


def _first_choice(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A `chat.completion` body's first choice and its message ({} where missing)."""
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    return choice, message if isinstance(message, dict) else {}


def reply_of(body: dict[str, Any]) -> Reply:
    """A `chat.completion` body's first choice as a `Reply` (usage None when not reported)."""
    choice, message = _first_choice(body)
    calls = message.get("tool_calls")
    tool_calls = [
        ToolCall(
            id=_text(call.get("id")) or f"call_{index}",
            name=_text(_function(call).get("name")) or "",
            arguments=_text(_function(call).get("arguments")) or "{}",
        )
        for index, call in enumerate(calls if isinstance(calls, list) else ())
        if isinstance(call, dict)
    ]
    legacy = message.get("function_call")
    if not tool_calls and isinstance(legacy, dict):
        tool_calls.append(
            ToolCall("call_0", _text(legacy.get("name")) or "", _text(legacy.get("arguments")) or "{}")
        )
    return Reply(
        text=_text(message.get("content")) or "",
        reasoning=_reasoning(message),
        tool_calls=tool_calls,
        finish=finish_reason(choice.get("finish_reason")),
        usage=usage_of(body.get("usage")),
    )
