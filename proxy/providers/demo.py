"""The built-in `demo` provider: no network, a deterministic synthetic answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from proxy.core.events import Event, Finish, Reply, TextDelta
from proxy.providers.base import Capabilities, Provider
from proxy.providers.usage import estimate_usage
from proxy.request import ChatRequest, text_of

CHUNK_DELAY = 0.01  # enough to look like streaming in a chat UI


class DemoProvider(Provider):
    kind = "demo"
    capabilities = Capabilities(tools=False, vision=True, images=False)
    model_table = {"demo": "demo", "gpt-4o-mini": "demo", "gpt-4o": "demo"}
    open_table = True
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
        return Reply(text=text, usage=estimate_usage(request.messages, text))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        text = self.answer(request)
        for index, word in enumerate(text.split(" ")):
            if index:
                await asyncio.sleep(CHUNK_DELAY)
            yield TextDelta(word if index == 0 else " " + word)
        yield Finish("stop")
        yield estimate_usage(request.messages, text)
