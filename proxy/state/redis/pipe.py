"""One auto-pipelining connection to Redis for the calls every request makes.

redis-py spends ~100 µs of Python per command (pool checkout, Script wrapper, packing,
stream plumbing); Redis itself spends ~25 µs on an admit. Here a command is packed by
hiredis, buffered, and the commands of one event-loop turn leave in one write; replies
come back in order and are matched to a FIFO of futures, parsed by `hiredis.Reader`.

A caller that gives up (the store's deadline) abandons its future: its reply is still
read and dropped, so later callers get their own. A lost connection fails every pending
call with `ConnectionError` (a `RedisError`, which the store treats as "Redis
unavailable"); the next call connects again, to the address redis-py's client would use
(for Sentinel, the master it names at that moment), with AUTH and SELECT from the same
settings.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError, ResponseError

_pack = cast(Callable[[tuple[Any, ...]], bytes], hiredis.pack_command)  # its stub: 1-tuples only
STALL_FACTOR = 5  # owing replies, silent for this many timeouts, when a caller gives up: dead


class _Connection(asyncio.Protocol):
    """One socket: the commands written to it and, in order, the futures of their replies."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.out: list[bytes] = []  # written at the end of this loop turn
        self.heard = loop.time()  # last reply (or first command owed one)
        self.lost = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.transport is None:
            raise ConnectionError("redis connection closed")
        future = self.loop.create_future()
        if not self.pending:
            self.heard = self.loop.time()
        self.pending.append(future)
        self.out.append(command)
        if len(self.out) == 1:  # the commands of this loop turn leave together, in one write
            self.loop.call_soon(self.flush)
        return future

    def flush(self) -> None:
        if self.out and self.transport is not None:
            self.transport.write(b"".join(self.out) if len(self.out) > 1 else self.out[0])
        self.out.clear()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        try:
            while (reply := self.reader.gets()) is not False:
                future = pending.popleft()
                if not future.done():  # done: its caller gave up; the reply is dropped
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            self.abort(ConnectionError(f"redis protocol error: {exc!r}"))
        self.heard = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"redis connection lost: {exc!r}" if exc else "redis connection closed"))

    def abort(self, exc: Exception) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.fail(exc)

    def fail(self, exc: Exception) -> None:
        self.transport = None
        self.out.clear()
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)
        if not self.lost.done():
            self.lost.set_result(None)


class Pipe:
    """Commands for the Redis `client` talks to, pipelined on a connection of our own."""

    def __init__(self, client: aioredis.Redis, timeout: float) -> None:
        self.pool = client.connection_pool  # where redis-py connects, with which settings
        self.timeout = timeout  # bounds a connection attempt
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None

    async def execute(self, *args: Any) -> Any:
        """One command's reply; an error reply is raised as `ResponseError`."""
        conn = self._conn
        if conn is None or conn.transport is None:
            conn = await self._connect()
        future = conn.send(_pack(args))
        try:
            reply = await future
        except asyncio.CancelledError:
            self._gave_up(conn)
            raise
        if isinstance(reply, ResponseError):
            if str(reply).startswith("READONLY"):  # a demoted master: ask Sentinel again
                conn.abort(ConnectionError(str(reply)))
            raise reply
        return reply

    async def evalsha(self, script: AsyncScript, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
        """Run a registered script by its digest; load it first if Redis does not know it."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.execute("SCRIPT", "LOAD", script.script)
        return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    def _gave_up(self, conn: _Connection) -> None:
        """A caller stopped waiting. One slow reply is fine; a connection silent for long is dead."""
        if conn.pending and conn.loop.time() - conn.heard > STALL_FACTOR * self.timeout:
            conn.abort(ConnectionError("redis connection stalled"))

    async def _connect(self) -> _Connection:
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._open())
            self._connecting.add_done_callback(_retrieved)  # its callers may all have gone
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)  # a caller giving up does not stop it
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        settings = self.pool.connection_kwargs
        conn = _Connection(loop)
        async with asyncio.timeout(self.timeout):
            if "path" in settings:
                await loop.create_unix_connection(lambda: conn, settings["path"])
            else:
                if isinstance(self.pool, SentinelConnectionPool):
                    host, port = await self.pool.get_master_address()  # type: ignore[no-untyped-call]
                else:
                    host, port = settings.get("host", "localhost"), settings.get("port", 6379)
                tls = None
                if issubclass(self.pool.connection_class, SSLConnection):
                    tls = self.pool.make_connection().ssl_context.get()  # type: ignore[no-untyped-call]
                await loop.create_connection(
                    lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None
                )
            try:
                hello: list[asyncio.Future[Any]] = []
                if settings.get("password"):
                    user = settings.get("username")
                    auth = ("AUTH", user, settings["password"]) if user else ("AUTH", settings["password"])
                    hello.append(conn.send(_pack(auth)))
                if settings.get("db"):
                    hello.append(conn.send(_pack(("SELECT", int(settings["db"])))))
                for reply in await asyncio.gather(*hello):
                    if isinstance(reply, ResponseError):
                        raise reply
            except BaseException:
                conn.abort(ConnectionError("redis handshake failed"))
                raise
        self._conn = conn
        return conn

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()
            await asyncio.wait([conn.lost], timeout=1.0)


def _retrieved(task: asyncio.Task[_Connection]) -> None:
    if not task.cancelled():
        task.exception()
