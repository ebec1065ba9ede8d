"""Telling waiters that something changed: locally, and from other replicas by pub/sub.

A request that finds every account busy waits in `wait_change`; a release or a status
change (here or, through the events channel, on another replica) wakes it. The
generation counter closes the gap between an admit's answer and the wait: a change in
between returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from proxy.state.redis.link import Link, Unavailable
from proxy.state.redis.target import FAILURES

log = logging.getLogger("pool_proxy.state")

LISTEN_POLL = 0.5  # seconds a pub/sub read waits before checking for shutdown


class Changes:
    def __init__(self) -> None:
        self.generation = 0
        self._changed = asyncio.Event()
        self._seen: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = weakref.WeakKeyDictionary()

    def notify(self) -> None:
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def mark(self) -> None:
        """Note the generation the current task's admit saw."""
        task = asyncio.current_task()
        if task is not None:
            self._seen[task] = self.generation

    async def wait(self, timeout: float) -> None:
        if timeout <= 0:
            return
        task = asyncio.current_task()
        seen = self._seen.pop(task, None) if task is not None else None
        if seen is not None and seen != self.generation:
            return  # something changed while this request's admit was on its way
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class Subscriber:
    """Reads the events channel; each message goes to `on_event`, then waiters are woken."""

    def __init__(
        self,
        client: aioredis.Redis,
        channel: str,
        link: Link,
        changes: Changes,
        *,
        reload: Callable[[], Awaitable[None]],
        on_event: Callable[[str], None],
    ) -> None:
        self.client = client  # a client of its own: pub/sub waits without a timeout
        self.channel = channel
        self.link = link
        self.changes = changes
        self.reload = reload
        self.on_event = on_event
        self.closing = False

    async def listen(self) -> None:
        while not self.closing:
            await self.link.healthy.wait()
            pubsub = self.client.pubsub()
            try:
                async with asyncio.timeout(self.link.timeout * 5):
                    await pubsub.subscribe(self.channel)
                await self.link.call(self.reload)  # whatever changed while we were not listening
                while not self.closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_POLL)
                    if message is not None:
                        self.on_event(message["data"])
                        self.changes.notify()
            except Unavailable:
                pass
            except FAILURES as exc:
                await self.link.failed(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
