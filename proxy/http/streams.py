"""The streams being relayed right now, so that a shutdown can let them finish or end them."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from proxy.core.door import StreamEncoder
from proxy.errors import shutting_down

log = logging.getLogger("pool_proxy.streams")


class OpenStream:
    __slots__ = ("done", "encoder", "response", "task")

    def __init__(self, response: web.StreamResponse, encoder: StreamEncoder) -> None:
        self.response = response
        self.encoder = encoder
        self.task = asyncio.current_task()
        self.done = False

    async def write(self, data: bytes) -> None:
        if not self.done:
            await self.response.write(data)

    async def finish(self, tail: bytes) -> None:
        """Send the last bytes and end the HTTP response with them, in one write."""
        if not self.done:
            self.done = True
            await self.response.write_eof(tail)


class OpenStreams:
    def __init__(self) -> None:
        self.open: set[OpenStream] = set()

    def add(self, response: web.StreamResponse, encoder: StreamEncoder) -> OpenStream:
        stream = OpenStream(response, encoder)
        self.open.add(stream)
        return stream

    def remove(self, stream: OpenStream) -> None:
        self.open.discard(stream)

    async def drain(self, grace: float) -> None:
        """Let open streams finish for `grace` seconds, then end each with its door's error tail."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.open and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if not self.open:
            return
        log.warning("ending streams still open after the shutdown grace", extra={"streams": len(self.open)})
        error = shutting_down()
        for stream in list(self.open):
            with contextlib.suppress(Exception):
                # Ends the HTTP response too: a cancelled handler never gets to, and a client
                # would see a truncated chunked body instead of a finished stream.
                await stream.finish(stream.encoder.error(error))
            if stream.task is not None:
                stream.task.cancel()
        while self.open and loop.time() < deadline + 5:
            await asyncio.sleep(0.05)
