"""The one streaming relay every door uses: events from the pool, bytes in the door's format.

The 200 is held until an account produced content (until then failover can still
happen and errors are still plain error responses); then the door's encoder turns
each event into bytes on an SSE response (aiohttp-sse, which also sends keep-alive
pings); a failure mid-stream ends with the encoder's error tail; the lease is released
however the stream ends, the client hanging up included.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from proxy.core.door import StreamEncoder
from proxy.core.events import Event, TextDelta, Usage
from proxy.errors import upstream_error
from proxy.http.exchange import Exchange
from proxy.http.keys import STREAMS
from proxy.http.middleware import edge_headers
from proxy.outcome import OK, Outcome, UpstreamError
from proxy.request import ChatRequest

PING_EVERY = 15.0  # seconds between keep-alive comments, so proxies and clients do not hang up


class EventStream(EventSourceResponse):
    """An SSE response whose headers leave with its first chunk (one write, not two),
    as aiohttp already does for plain responses."""

    _send_headers_immediately = False

    def stop_pinging(self) -> None:
        """Cancel the keep-alive pings and let go of their task: a cancelled task keeps its
        CancelledError, whose traceback holds this response (a reference cycle per stream,
        left for the garbage collector)."""
        task, self._ping_task = self._ping_task, None
        if task is not None:
            task.cancel()


class Collected:
    """What the exchange needs from the events passing by: the usage, and the answer text
    when bodies are logged."""

    __slots__ = ("text", "usage")

    def __init__(self, collect_text: bool) -> None:
        self.usage: Usage | None = None
        self.text: list[str] | None = [] if collect_text else None

    def see(self, event: Event) -> None:
        if type(event) is Usage:
            self.usage = event
        elif self.text is not None and type(event) is TextDelta:
            self.text.append(event.text)


async def relay(
    request: web.Request, ex: Exchange, chat: ChatRequest, encoder: StreamEncoder
) -> web.StreamResponse:
    assert ex.client is not None
    gateway = ex.gateway
    opened = await gateway.dispatcher.open_stream(chat, ex.client.quota, ex.trace)
    seen = Collected(gateway.config.logging.log_bodies)
    outcome: Outcome | None = None  # None: the account is not to blame (the client left)
    streams = request.app[STREAMS]
    ex.streaming()
    response = EventStream(
        headers={**ex.headers(), **edge_headers(request)},
        ping_interval=PING_EVERY,
        sep="\n",  # the same line ends as the events: `: ping\n\n`
        allow_all_methods=True,
    )
    try:
        await response.prepare(request)
        stream = streams.add(response, encoder)
        try:
            head = encoder.start()
            for event in opened.head:
                seen.see(event)
                head += encoder.encode(event)
            await stream.write(head)
            encode, write, see = encoder.encode, stream.write, seen.see
            try:
                async for event in opened.rest:
                    see(event)
                    data = encode(event)
                    if data:
                        await write(data)
                outcome = OK
                tail = encoder.end()
            except UpstreamError as exc:
                outcome = exc.outcome
                ex.error = f"stream broke: {exc.outcome.reason}"
                reason = exc.outcome.reason or exc.outcome.kind
                tail = encoder.error(upstream_error(f"The upstream failed mid-stream: {reason}."))
            await stream.finish(tail)
        finally:
            streams.remove(stream)
        return response
    finally:
        response.stop_pinging()
        await opened.rest.aclose()
        await gateway.manager.finish(opened.granted, outcome)
        ex.streamed(seen.usage, "".join(seen.text or ()))
