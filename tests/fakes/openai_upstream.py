"""A fake OpenAI-compatible upstream that speaks the real wire format and fails on cue.

Each API key (one per pool account) has its own script: a queue of `Step`s played
one per request, then the default answer. What it received is kept in `seen`.

A step may `hold` its answer on an `asyncio.Event` the test sets: before answering at
all, or (streams) after `hold_after` words. `held` counts the requests waiting on a
hold, so a test can wait until the fake has N requests in hand instead of racing a
delay against the gateway.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.scripted import Scripted


@dataclass
class Step:
    """One scripted answer. `kind`: ok, status, hang, reset, cut, empty, malformed, slow."""

    kind: str = "ok"
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # per chunk for `slow`, before answering otherwise
    text: str = "Hello from the fake upstream!"
    hold: asyncio.Event | None = None  # answer only once the test sets it
    hold_after: int = 0  # streams: words sent before waiting on `hold` (0: before answering)
    calls: list[tuple[str, str]] | None = None  # tool calls (name, arguments) after the text;
    # streamed with their arguments cut in 4-character pieces, as models send them
    running_usage: bool = False  # every chunk carries the usage so far (vLLM, some hosts)


def calls_step(*calls: tuple[str, str], text: str = "") -> Step:
    """An answer that asks for tool calls (after `text`, if any)."""
    return Step(text=text, calls=list(calls))


def error_step(status: int, code: str | None, message: str = "", **headers: str) -> Step:
    body = {
        "error": {"message": message or code or "error", "type": code or "error", "param": None, "code": code}
    }
    return Step("status", status, body, dict(headers))


# A model that, like OpenAI's gpt-4o family, refuses `reasoning_effort` (the real 400 body).
NO_EFFORT_MODEL = "gpt-4o-2024-08-06"
NO_EFFORT_ERROR = {
    "error": {
        "message": "Unrecognized request argument supplied: reasoning_effort",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}


@dataclass
class Seen:
    key: str
    body: dict[str, Any]
    headers: dict[str, str]


class FakeOpenAI(Scripted[Step]):
    def __init__(self) -> None:
        super().__init__(Step())
        self.open_streams = 0
        self.closed_by_client = 0
        self.held = 0  # requests now waiting on their step's `hold`
        self.models = ["gpt-4o-mini", "gpt-4o"]
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_get("/v1/models", self.list_models)
        self.app.router.add_post("/v1/embeddings", self.embeddings)
        self.url = ""

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def keys_seen(self) -> list[str]:
        return [s.key for s in self.seen]

    async def _wait(self, hold: asyncio.Event) -> None:
        self.held += 1
        try:
            await hold.wait()
        finally:
            self.held -= 1

    async def list_models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 1, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = await request.json()
        self.seen.append(Seen(key, body, dict(request.headers)))
        if body.get("model") == NO_EFFORT_MODEL and "reasoning_effort" in body:
            return web.json_response(NO_EFFORT_ERROR, status=400)  # before any scripted step
        step = self.next_step(key)
        try:
            if step.delay and step.kind != "slow":
                await asyncio.sleep(step.delay)
            if step.hold is not None and not (body.get("stream") and step.hold_after):
                await self._wait(step.hold)
            if step.kind == "hang":
                await asyncio.sleep(3600)
        except asyncio.CancelledError:  # the gateway hung up before the answer
            self.closed_by_client += 1
            raise
        if step.kind == "status":
            return web.json_response(step.body or {}, status=step.status, headers=step.headers)
        if step.kind == "malformed":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if step.kind == "empty" and not body.get("stream"):
            return web.Response(body=b"", content_type="application/json")
        if body.get("stream"):
            return await self._stream(request, body, step)
        return web.json_response(self._completion(body, step.text, step.calls))

    def _completion(
        self, body: dict[str, Any], text: str, calls: list[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["content"] = text or None
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": arguments}}
                for i, (name, arguments) in enumerate(calls, 1)
            ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            "system_fingerprint": "fp_fake",
        }

    async def _stream(self, request: web.Request, body: dict[str, Any], step: Step) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.open_streams += 1
        try:
            if step.kind == "empty":
                await response.write_eof()
                return response
            words = step.text.split(" ")
            base = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
            }
            usage = (body.get("stream_options") or {}).get("include_usage")

            def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
                payload = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                if step.running_usage:
                    payload["usage"] = {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12}
                elif usage:
                    payload["usage"] = None
                return b"data: " + orjson.dumps(payload) + b"\n\n"

            await response.write(chunk({"role": "assistant", "content": ""}))
            for index, word in enumerate(words):
                if step.hold is not None and step.hold_after and index == step.hold_after:
                    await self._wait(step.hold)
                if step.kind == "slow":
                    await asyncio.sleep(step.delay)
                if step.kind in ("reset", "cut") and index == len(words) // 2:
                    if step.kind == "reset":
                        assert request.transport is not None
                        request.transport.abort()
                        return response
                    await asyncio.sleep(3600)  # stalls mid-stream
                await response.write(chunk({"content": word if index == 0 else " " + word}))
            if step.calls is not None:
                for i, (name, arguments) in enumerate(step.calls, 1):
                    head = {"index": i - 1, "id": f"call_{i}", "type": "function"}
                    await response.write(chunk({"tool_calls": [{**head, "function": {"name": name}}]}))
                    for at in range(0, len(arguments), 4):
                        piece = {"index": i - 1, "function": {"arguments": arguments[at : at + 4]}}
                        await response.write(chunk({"tool_calls": [piece]}))
            elif body.get("tools"):
                call = {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{}"},
                }
                await response.write(chunk({"tool_calls": [call]}))
            await response.write(chunk({}, "tool_calls" if step.calls else "stop"))
            if usage:
                final = {
                    **base,
                    "choices": [],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                }
                await response.write(b"data: " + orjson.dumps(final) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            self.closed_by_client += 1
            raise
        finally:
            self.open_streams -= 1

    async def embeddings(self, request: web.Request) -> web.Response:
        """Floats always, whatever `encoding_format` asked: many compatible upstreams do that."""
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = await request.json()
        self.seen.append(Seen(key, body, dict(request.headers)))
        step = self.next_step(key)
        if step.kind == "status":
            return web.json_response(step.body or {}, status=step.status, headers=step.headers)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if inputs and isinstance(inputs[0], int):
            inputs = [inputs]  # one token array
        size = body.get("dimensions") or 4
        data = [
            {"object": "embedding", "index": i, "embedding": embedding_of(i, size)}
            for i in range(len(inputs))
        ]
        usage = {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}
        return web.json_response({"object": "list", "model": body["model"], "data": data, "usage": usage})


def embedding_of(index: int, size: int) -> list[float]:
    """The fake's vector for input `index`: exact in float32, so a test can compare."""
    return [index + 0.5, -0.25, *([0.125] * (size - 2))][:size]
