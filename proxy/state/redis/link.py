"""Is Redis there? Calls bounded by `redis_timeout`, the outage they start, the way back.

Every room calls Redis through `Link.call`. A call that fails or is late marks the link
`degraded` (the store then serves from its in-process fallback); a recovery task pings
every `retry_interval` and, once Redis answers, runs the store's resync before the link
is healthy again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

from proxy.clock import Clock
from proxy.state.redis.target import FAILURES

log = logging.getLogger("pool_proxy.state")

T = TypeVar("T")

RETRY_INTERVAL = 1.0  # seconds between reconnection attempts during an outage


class Unavailable(Exception):
    """Redis did not answer in time; the caller serves from local state."""


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Link:
    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        timeout: float,
        *,
        on_error: Callable[[], None] | None,
        on_outage: Callable[[], Awaitable[None]],
        resync: Callable[[], Awaitable[None]],
        on_back: Callable[[], None],
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.timeout = timeout
        self.retry_interval = RETRY_INTERVAL
        self.degraded = False
        self.errors = 0
        self.healthy = asyncio.Event()  # set while Redis answers; the pub/sub listener waits on it
        self._on_error = on_error  # once per failed call (a metrics counter)
        self._on_outage = on_outage  # the fallback starts from what we know
        self._resync = resync  # reconcile what happened during the outage
        self._on_back = on_back  # wake waiters: shared state again
        self._recovery: asyncio.Task[None] | None = None
        self._outage_started = 0.0

    async def call(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` bounded by `redis_timeout`; any failure starts (or extends) an outage."""
        try:
            async with asyncio.timeout(self.timeout):
                return await call()
        except FAILURES as exc:
            await self.failed(exc)
            raise Unavailable from exc

    async def failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self._on_error is not None:
            self._on_error()
        if self.degraded:
            return
        self.degraded = True
        self.healthy.clear()
        self._outage_started = self.clock.monotonic()
        log.warning(
            "redis unreachable: serving from local state (limits are per replica) until it answers",
            extra={"error": describe(exc)},
        )
        await self._on_outage()
        self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(self.retry_interval)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.redis.ping()
                await self._resync()
            except (*FAILURES, Unavailable):
                continue
            self.degraded = False
            self._recovery = None
            self.healthy.set()
            self._on_back()
            log.warning(
                "redis reachable again: state shared with other replicas",
                extra={"outage_seconds": round(self.clock.monotonic() - self._outage_started, 1)},
            )
            return

    def stop(self) -> asyncio.Task[None] | None:
        """Cancel a running recovery; returns its task, for the caller to wait on."""
        task, self._recovery = self._recovery, None
        if task is not None:
            task.cancel()
        return task
