"""The one streaming relay every door uses: events from the pool, bytes in the door's format.

The 200 is held until an account produced content (until then failover can still
happen and errors are still plain error responses); then the door's encoder turns
each event into bytes on an SSE response (aiohttp-sse, which also sends keep-alive
pings, see sse.py); a failure mid-stream ends with the encoder's error tail; the lease is
released however the stream ends, the client hanging up included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from proxy.core.door import StreamEncoder
from proxy.core.events import Event, Finish, TextDelta, Usage
from proxy.errors import upstream_error
from proxy.http.exchange import Exchange
from proxy.http.keys import STREAMS
from proxy.http.middleware import edge_headers
from proxy.http.sse import EventStream
from proxy.http.streams import OpenStream
from proxy.outcome import OK, Outcome, UpstreamError
from proxy.pool.fallbacks import served_as
from proxy.request import ChatRequest


class Sender:
    """Sends a stream's events as they come, noting what the exchange needs (the usage; the
    answer text when bodies are logged). Once the answer has ended, only its close follows:
    that rest is held and leaves with the end of the response, in one write."""

    __slots__ = ("encoder", "held", "holding", "stream", "text", "usage")

    def __init__(self, stream: OpenStream, encoder: StreamEncoder, collect_text: bool) -> None:
        self.stream = stream
        self.encoder = encoder
        self.held = encoder.start()
        self.holding = False
        self.usage: Usage | None = None
        self.text: list[str] | None = [] if collect_text else None

    def take(self, event: Event) -> bytes:
        """The event's bytes to send now (b"" while holding)."""
        if isinstance(event, Usage):
            self.usage = event
        elif self.text is not None and isinstance(event, TextDelta):
            self.text.append(event.text)
        data = self.encoder.encode(event)
        if self.holding or _ends_answer(event):
            self.holding = True
            self.held += data
            return b""
        if self.held:
            data, self.held = self.held + data, b""
        return data

    async def send(self, events: list[Event], rest: AsyncIterator[Event]) -> None:
        take, write = self.take, self.stream.write
        data = b""
        for event in events:
            data += take(event)
        if data:
            await write(data)
        async for event in rest:
            data = take(event)
            if data:
                await write(data)

    async def end(self, tail: bytes) -> None:
        await self.stream.finish(self.held + tail)


def _ends_answer(event: Event) -> bool:
    """Whether only the answer's close can follow this event: its finish or its usage, or
    a piece of it that says so (a relayed OpenAI block, raw.py; the last piece read with
    the upstream's `[DONE]`, parse.py)."""
    return isinstance(event, Finish | Usage) or event.ends


async def relay(
    request: web.Request,
    ex: Exchange,
    chat: ChatRequest,
    make_encoder: Callable[[ChatRequest], StreamEncoder],
) -> web.StreamResponse:
    """`make_encoder` is given the request as the model that served it (a fallback's, when
    one did), so the stream names that model."""
    assert ex.client is not None
    gateway = ex.gateway
    opened = await gateway.dispatcher.open_stream(chat, ex.client.quota, ex.trace, may_use=ex.client.may_use)
    encoder = make_encoder(served_as(chat, ex.trace))
    outcome: Outcome | None = None  # None: the account is not to blame (the client left)
    sender: Sender | None = None
    streams = request.app[STREAMS]
    ex.streaming()
    response = EventStream({**ex.headers(), **edge_headers(request)})
    try:
        await response.prepare(request)
        stream = streams.add(response, encoder)
        try:
            sender = Sender(stream, encoder, gateway.config.logging.log_bodies)
            try:
                await sender.send(opened.head, opened.rest)
                outcome = OK
                tail = encoder.end()
            except UpstreamError as exc:
                outcome = exc.outcome
                ex.error = f"stream broke: {exc.outcome.reason}"
                reason = exc.outcome.reason or exc.outcome.kind
                tail = encoder.error(upstream_error(f"The upstream failed mid-stream: {reason}."))
            await sender.end(tail)
        finally:
            streams.remove(stream)
        return response
    finally:
        response.stop_pinging()
        await opened.rest.aclose()
        await gateway.manager.finish(opened.granted, outcome)
        if sender is None:
            ex.streamed(None, "")
        else:
            ex.streamed(sender.usage, "".join(sender.text or ()))
