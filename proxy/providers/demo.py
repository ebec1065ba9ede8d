"""The built-in `demo` provider: no network, a deterministic synthetic answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from proxy.providers.base import Capabilities, Provider, Reply, StreamSink
from proxy.providers.chunks import (
    ChunkWriter,
    completion_body,
    estimate_usage,
)
from proxy.request import ChatRequest, text_of

CHUNK_DELAY = 0.01  # enough to look like streaming in a chat UI


class DemoProvider(Provider):
    kind = "demo"
    capabilities = Capabilities(tools=False, vision=True, images=False)
    model_table = {"demo": "demo", "gpt-4o-mini": "demo", "gpt-4o": "demo"}
    passthrough = True
    default_models = ("*",)

    def answer(self, request: ChatRequest) -> str:
        last = next((text_of(m) for m in reversed(request.messages) if m.get("role") == "user"), "")
        quoted = " ".join(last.split())[:200] or "(nothing)"
        return (
            f"This is the pool-proxy demo provider answering as {request.model}. "
            f'You said: "{quoted}". Configure real accounts in accounts.yaml '
            "(see accounts.example.yaml) to reach an actual model."
        )

    async def complete(self, request: ChatRequest) -> Reply:
        text = self.answer(request)
        usage = estimate_usage(request.messages, text)
        created = int(self.ctx.clock.now())
        return Reply(completion_body(request.requested_model, created, text, usage), usage, text)

    async def stream(self, request: ChatRequest, sink: StreamSink) -> AsyncGenerator[bytes, None]:
        text = self.answer(request)
        writer = ChunkWriter(
            request.requested_model, int(self.ctx.clock.now()), include_usage=request.include_usage
        )
        yield writer.role()
        for index, word in enumerate(text.split(" ")):
            await asyncio.sleep(CHUNK_DELAY)
            yield writer.content(word if index == 0 else " " + word)
        yield writer.end(sink.finish(estimate_usage(request.messages, text), text))
