"""SIGHUP re-reads the config of every gateway app running on the event loop.

A signal has one handler per process, while an embedder may run several apps on one loop:
the first app to start installs the handler, each SIGHUP reloads every app still running,
and the last one to stop puts back the handler that was there before.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from proxy.config import ConfigError
from proxy.http.keys import GATEWAY

log = logging.getLogger("pool_proxy")


async def reload_config(app: web.Application) -> None:
    """What SIGHUP does to one app: re-read its config file, keeping the running one on errors."""
    try:
        await app[GATEWAY].reload()
    except ConfigError as exc:
        log.error("reload failed; keeping the running config", extra={"errors": exc.errors})


class _Reloader:
    """The loop's one SIGHUP handler; raises where the loop cannot take signals."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.apps: list[web.Application] = []
        self.reloads: set[asyncio.Task[None]] = set()  # held until done: the loop keeps weak references
        self.previous: Any = signal.getsignal(signal.SIGHUP)
        loop.add_signal_handler(signal.SIGHUP, self.on_signal)

    def on_signal(self) -> None:
        for app in self.apps:
            task = self.loop.create_task(reload_config(app))
            self.reloads.add(task)
            task.add_done_callback(self.reloads.discard)

    def close(self) -> None:
        self.loop.remove_signal_handler(signal.SIGHUP)
        if self.previous is not None:
            signal.signal(signal.SIGHUP, self.previous)


_RELOADERS: dict[asyncio.AbstractEventLoop, _Reloader] = {}


async def reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: `app` is reloaded on SIGHUP while it runs."""
    loop = asyncio.get_running_loop()
    reloader = _RELOADERS.get(loop)
    if reloader is None:
        try:
            reloader = _RELOADERS[loop] = _Reloader(loop)
        except (NotImplementedError, RuntimeError, ValueError):
            reloader = None  # not on every platform, and only in the main thread
    if reloader is None:
        yield
        return
    reloader.apps.append(app)
    try:
        yield
    finally:
        reloader.apps.remove(app)
        if not reloader.apps:
            reloader.close()
            del _RELOADERS[loop]
