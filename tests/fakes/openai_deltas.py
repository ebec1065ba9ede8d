"""The fake OpenAI upstream, answering with scripted chat deltas when told to.

Door tests need answers the word-streaming default cannot give: a tool call split over
many chunks, parallel calls, reasoning before text, a stream that breaks or waits after
some chunks. `answer(...)` queues such answers (served to any account, in order); an
account's own fault script (`script(key, error_step(...))`) still comes first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI, Seen


def _usage() -> dict[str, Any]:
    return {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@dataclass
class Answer:
    deltas: list[dict[str, Any]]  # one chunk's `delta` each: content, reasoning_content, tool_calls
    finish: str = "stop"
    usage: dict[str, Any] = field(default_factory=_usage)
    hold: asyncio.Event | None = None  # streams: after `pause_after` chunks, wait until it is set
    pause_after: int = 1
    break_after: int | None = None  # streams: drop the connection after this many chunks


def call(index: int, id: str | None = None, name: str | None = None, arguments: str = "") -> dict[str, Any]:
    """A `tool_calls` delta for one call (the first piece carries id and name)."""
    piece: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        piece.update(id=id, type="function")
        piece["function"]["name"] = name
    return {"tool_calls": [piece]}


class DeltasOpenAI(FakeOpenAI):
    def __init__(self) -> None:
        super().__init__()
        self.answers: deque[Answer] = deque()
        self.waiting = 0  # streams paused on an Answer's `hold`
        self.cancelled = 0  # streams the gateway hung up on

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.scripts.get(key) or not self.answers:
            return await super().chat(request)
        body = await request.json()
        self.seen.append(Seen(key, body, dict(request.headers)))
        answer = self.answers.popleft()
        if body.get("stream"):
            return await self._deltas(request, body, answer)
        return web.json_response(_completion(body, answer))

    async def _deltas(self, request: web.Request, body: dict[str, Any], answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {
            "id": "chatcmpl-deltas",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        try:
            await response.write(chunk({"role": "assistant", "content": ""}))
            for sent, delta in enumerate(answer.deltas):
                if sent == answer.break_after:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if answer.hold is not None and sent == answer.pause_after:
                    self.waiting += 1
                    try:
                        await answer.hold.wait()
                    finally:
                        self.waiting -= 1
                await response.write(chunk(delta))
            await response.write(chunk({}, answer.finish))
            if (body.get("stream_options") or {}).get("include_usage"):
                final = {**base, "choices": [], "usage": answer.usage}
                await response.write(b"data: " + orjson.dumps(final) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            self.cancelled += 1
            raise


def _completion(body: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """The deltas assembled into one `chat.completion`."""
    text = "".join(d.get("content") or "" for d in answer.deltas)
    reasoning = "".join(d.get("reasoning_content") or "" for d in answer.deltas)
    calls: dict[int, dict[str, Any]] = {}
    for delta in answer.deltas:
        for piece in delta.get("tool_calls") or ():
            whole = calls.setdefault(
                piece["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            whole["id"] = piece.get("id") or whole["id"]
            whole["function"]["name"] = piece["function"].get("name") or whole["function"]["name"]
            whole["function"]["arguments"] += piece["function"].get("arguments", "")
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": "chatcmpl-deltas",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish, "logprobs": None}],
        "usage": answer.usage,
    }
