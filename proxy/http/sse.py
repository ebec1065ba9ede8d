"""The SSE response every stream leaves on: aiohttp-sse's `EventSourceResponse`, fitted to
a gateway that opens thousands of mostly short streams.

- Headers leave with the first chunk (one write, not two), as aiohttp does for plain
  responses.
- Keep-alive pings (aiohttp-sse's ping loop) start when the first one is due, from a
  timer, not from a task started with every stream: most streams end before then.
- No `TCP_USER_TIMEOUT` (`send_timeout=None`): aiohttp-sse sets and restores it with
  three socket calls per stream, while a stalled client is already bounded by the
  upstream's own idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from aiohttp.abc import AbstractStreamWriter
from aiohttp.web import BaseRequest, StreamResponse
from aiohttp_sse import EventSourceResponse

PING_EVERY = 15.0  # seconds between keep-alive comments, so proxies and clients do not hang up
PING = b": ping\n\n"


class EventStream(EventSourceResponse):
    _send_headers_immediately = False

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(
            headers=headers,
            ping_interval=PING_EVERY,
            sep="\n",  # the same line ends as the events
            send_timeout=None,
            allow_all_methods=True,  # chat streams answer a POST
        )
        self._first_ping: asyncio.TimerHandle | None = None

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        # StreamResponse's own prepare: aiohttp-sse's would start the ping task right away.
        # aiohttp prepares a handler's response again once the handler returned, after the
        # relay stopped its pings: only the first prepare arms them (a timer armed then kept
        # every finished stream alive, and pinging a closed response, for 30 s)
        first = not self.prepared
        writer = await StreamResponse.prepare(self, request)
        if first:
            self._first_ping = asyncio.get_running_loop().call_later(self._ping_interval, self._start_pinging)
        return writer

    def _start_pinging(self) -> None:
        self._first_ping = None
        self._ping_task = asyncio.get_running_loop().create_task(self._pings())

    async def _pings(self) -> None:
        with contextlib.suppress(ConnectionResetError, RuntimeError):  # gone, or already ended
            await self.write(PING)
        await self._ping()  # aiohttp-sse's loop: one ping every interval from here on

    def stop_pinging(self) -> None:
        """Cancel the pings and let go of their task: a cancelled task keeps its CancelledError,
        whose traceback holds this response (a reference cycle per stream, left to the GC)."""
        if self._first_ping is not None:
            self._first_ping.cancel()
            self._first_ping = None
        task, self._ping_task = self._ping_task, None
        if task is not None:
            task.cancel()
