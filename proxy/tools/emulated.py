"""A provider without native tool calling, made to call tools through its prompt.

On the way up the request is rewritten (`prompt.rewrite`); on the way down the
answer's `<tool_call>` blocks become tool calls (`parser`). Usage stays the inner
provider's estimate, which counts the rewritten messages and so the injected prompt.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from typing import Protocol

from proxy.core.events import Event, Finish, Reply, TextDelta
from proxy.request import ChatRequest
from proxy.tools.parser import BlockParser, parse_text
from proxy.tools.prompt import Emulation, rewrite


class ChatProvider(Protocol):
    """The two verbs every provider has (proxy/providers after the core refactor)."""

    async def complete(self, request: ChatRequest) -> Reply: ...

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]: ...


def read_reply(reply: Reply, emulation: Emulation, *, request_id: str | None = None) -> Reply:
    """A finished answer with its blocks turned into `tool_calls`."""
    if not emulation.names or not reply.text:
        return reply
    text, calls = parse_text(reply.text, emulation.names, request_id=request_id)
    if not calls:
        return replace(reply, text=text)
    return replace(reply, text=text, tool_calls=calls, finish="tool_calls", raw=None)


async def read_stream(
    events: AsyncGenerator[Event, None], emulation: Emulation, *, request_id: str | None = None
) -> AsyncGenerator[Event, None]:
    """A stream with its blocks turned into tool-call deltas; reasoning passes untouched.

    Closing this stream closes the provider's at once (so its upstream stops generating).
    """
    parser = BlockParser(emulation.names, request_id=request_id)
    finished = False
    async with aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                for piece in parser.feed(event.text):
                    yield piece
            elif isinstance(event, Finish):
                for piece in parser.close():
                    yield piece
                finished = True
                yield Finish("tool_calls") if parser.calls else event
            else:
                yield event
    if not finished:
        for piece in parser.close():
            yield piece


class EmulatedTools:
    """Wraps a provider whose upstream cannot call tools (`pool.unsupported_tools: emulate`)."""

    def __init__(self, inner: ChatProvider, *, request_id: str | None = None) -> None:
        self.inner = inner
        self.request_id = request_id  # names the request in the log when a block is kept as text

    async def complete(self, request: ChatRequest) -> Reply:
        if not request.has_tools:
            return await self.inner.complete(request)
        emulation = rewrite(request)
        reply = await self.inner.complete(emulation.request)
        return read_reply(reply, emulation, request_id=self.request_id)

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        if not request.has_tools:
            return self.inner.stream(request)
        emulation = rewrite(request)
        if not emulation.names:  # tool_choice none: nothing to parse
            return self.inner.stream(emulation.request)
        return read_stream(self.inner.stream(emulation.request), emulation, request_id=self.request_id)
