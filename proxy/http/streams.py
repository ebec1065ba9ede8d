"""Open SSE responses: keepalive comments while an upstream is slow, and graceful ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from proxy.errors import envelope
from proxy.providers.chunks import DONE, sse

log = logging.getLogger("pool_proxy.streams")

KEEPALIVE_EVERY = 15.0
KEEPALIVE = b": keepalive\n\n"


class EventStreamResponse(web.StreamResponse):
    """An SSE response whose headers leave with its first chunk (one write, not two),
    as aiohttp already does for plain responses."""

    _send_headers_immediately = False


class OpenStream:
    __slots__ = ("done", "last", "response", "task")

    def __init__(self, response: web.StreamResponse, task: asyncio.Task[object] | None) -> None:
        self.response = response
        self.task = task
        self.last = asyncio.get_running_loop().time()
        self.done = False

    async def write(self, data: bytes) -> None:
        """Send `data`; the chunk that carries `[DONE]` also ends the HTTP response, so the
        last event and the end of the chunked body share one write."""
        if self.done:
            return
        if data.endswith(DONE):
            self.done = True
            await self.response.write_eof(data)
        else:
            await self.response.write(data)
        self.last = asyncio.get_running_loop().time()

    async def finish(self) -> None:
        if not self.done:
            self.done = True
            await self.response.write_eof()


class OpenStreams:
    def __init__(self) -> None:
        self.open: set[OpenStream] = set()
        self._ticker: asyncio.Task[None] | None = None

    def add(self, response: web.StreamResponse) -> OpenStream:
        stream = OpenStream(response, asyncio.current_task())
        self.open.add(stream)
        return stream

    def remove(self, stream: OpenStream) -> None:
        self.open.discard(stream)

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._keepalive())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    async def _keepalive(self) -> None:
        """A comment frame on streams idle for 15 s keeps proxies and clients from hanging up."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY / 3)
            now = loop.time()
            for stream in list(self.open):
                if now - stream.last >= KEEPALIVE_EVERY:
                    with contextlib.suppress(Exception):
                        await stream.write(KEEPALIVE)

    async def drain(self, grace: float) -> None:
        """Let open streams finish for `grace` seconds, then end them with an error event."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.open and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if not self.open:
            return
        log.warning("ending streams still open after the shutdown grace", extra={"streams": len(self.open)})
        event = sse(envelope("The gateway is shutting down.", "service_unavailable_error", "shutting_down"))
        for stream in list(self.open):
            with contextlib.suppress(Exception):
                # Ends the HTTP response too: a cancelled handler never gets to, and a client
                # would see a truncated chunked body instead of a finished stream.
                await stream.write(event + DONE)
            if stream.task is not None:
                stream.task.cancel()
        while self.open and loop.time() < deadline + 5:
            await asyncio.sleep(0.05)
