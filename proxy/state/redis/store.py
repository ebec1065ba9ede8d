"""The `redis` backend: pool state shared by every replica through one Redis.

Redis is the authority: admission reads statuses, buckets, leases and probe slots
inside one Lua script. This process keeps a status cache only for the cheap synchronous
reads (`status()`), kept fresh by pub/sub. When Redis does not answer within
`redis_timeout`, an in-process MemoryStore takes over (per-replica limits, `degraded`),
and the two are reconciled when Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import orjson

from proxy.clock import Clock
from proxy.config import StateConfig
from proxy.core.account import AccountStatus
from proxy.state.base import (
    Admission,
    Candidate,
    ClientQuota,
    Lease,
    StateStore,
    Strategy,
    UsageRecord,
    UsageTable,
)
from proxy.state.memory import MemoryStore
from proxy.state.redis.keys import Keys
from proxy.state.redis.pipe import Pipe
from proxy.state.redis.scripts import Scripts
from proxy.state.redis.target import FAILURES, connect, parse_target
from proxy.state.redis.usage import UsageBatch, flush, read_minutes, read_usage

log = logging.getLogger("pool_proxy.state")

T = TypeVar("T")

RETRY_INTERVAL = 1.0  # seconds between reconnection attempts during an outage
FLUSH_INTERVAL = 1.0  # seconds between usage counter flushes
LISTEN_POLL = 0.5  # seconds a pub/sub read waits before checking for shutdown
CAS_ATTEMPTS = 32
MINUTES_KEPT = 120
REFRESH_BATCH = 500
UNRELEASED_KEPT = 10_000


@dataclass(frozen=True)
class Held:
    """A lease this process holds in Redis, and its account's concurrency limit."""

    lease: Lease
    limit: int


class Unavailable(Exception):
    """Redis did not answer in time; the caller serves from local state."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _decode(doc: str | None) -> AccountStatus:
    return AccountStatus.from_dict(orjson.loads(doc)) if doc else AccountStatus()


class RedisStore(StateStore):
    def __init__(
        self, config: StateConfig, clock: Clock, *, on_error: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.on_error = on_error  # called once per failed Redis call (a metrics counter)
        self.errors = 0
        self.timeout = config.redis_timeout
        self.lease_ttl = config.lease_ttl
        self.retry_interval = RETRY_INTERVAL
        self.keys = Keys(config.key_prefix)
        target = parse_target(config.redis_url, config.sentinel_master)
        self.redis = connect(target, self.timeout, self.timeout)
        self._listener = connect(target, None, self.timeout)  # pub/sub waits without a timeout
        self.pipe = Pipe(self.redis, self.timeout)  # admit, release, refresh: pipelined
        self.scripts = Scripts(self.redis, self.keys, self.pipe)
        self.fallback = MemoryStore(None, clock)
        self._status: dict[str, tuple[int, AccountStatus]] = {}  # id -> (version, status)
        self._in_flight: dict[str, int] = {}  # leases in Redis (all replicas), as last counted
        self._held: dict[str, Held] = {}  # Redis leases of this process, kept alive
        self._mine: dict[str, int] = {}  # of those, how many per account
        self._accounts: set[str] = set()  # the pool's accounts, whose leases are counted
        self._releasing: set[asyncio.Task[None]] = set()
        self._to_release: list[tuple[Lease, bytes, int]] = []  # batched into one call
        self._local: set[str] = set()  # tokens of leases the fallback gave out
        self._unreleased: list[Lease] = []  # released during an outage
        self._dirty: set[str] = set()  # statuses changed during an outage
        self._usage = UsageBatch()
        self._changed = asyncio.Event()
        self._generation = 0
        self._seen: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = weakref.WeakKeyDictionary()
        self._healthy = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._recovery: asyncio.Task[None] | None = None
        self._outage_started = 0.0
        self._closing = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        with contextlib.suppress(Unavailable):
            await self._remote(self._reload)
            self._healthy.set()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen()),
            loop.create_task(self._keep_leases()),
            loop.create_task(self._flush_every()),
        ]

    async def close(self) -> None:
        self._closing = True
        tasks = [*self._tasks, *([self._recovery] if self._recovery else [])]
        for task in tasks:
            task.cancel()
        if tasks:  # redis-py's pub/sub read can swallow a cancel: the flag ends that loop
            await asyncio.wait(tasks, timeout=LISTEN_POLL * 2)
        self._tasks, self._recovery = [], None
        for held in list(self._held.values()):  # streams are over; do not wait for the TTL
            await self.release(held.lease)
        if self._releasing:
            await asyncio.wait(self._releasing, timeout=self.timeout * 2)
        await self._flush()
        await self.pipe.close()
        await self.redis.aclose()
        await self._listener.aclose()

    # -- calling Redis ----------------------------------------------------------------------

    async def _remote(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` bounded by `redis_timeout`; any failure starts (or extends) an outage."""
        try:
            async with asyncio.timeout(self.timeout):
                return await call()
        except FAILURES as exc:
            await self._failed(exc)
            raise Unavailable from exc

    async def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.on_error is not None:
            self.on_error()
        if self.degraded:
            return
        self.degraded = True
        self._healthy.clear()
        self._outage_started = self.clock.monotonic()
        log.warning(
            "redis unreachable: serving from local state (limits are per replica) until it answers",
            extra={"error": _describe(exc)},
        )
        for account_id, (_, status) in self._status.items():  # the fallback starts where we are
            await self.fallback.update(account_id, partial(_replace_with, status))
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
            self._healthy.set()
            self._notify()
            log.warning(
                "redis reachable again: state shared with other replicas",
                extra={"outage_seconds": round(self.clock.monotonic() - self._outage_started, 1)},
            )
            return

    async def _resync(self) -> None:
        """Push what changed here during the outage (or what a restarted Redis lost), then re-read."""
        for account_id in sorted(set(self._status) | self._dirty):
            known, mine = self._status.get(account_id, (0, AccountStatus()))
            dirty = account_id in self._dirty
            for _ in range(CAS_ATTEMPTS):
                ver, theirs = await self._remote(partial(self._read, account_id))
                if ver == known and not dirty:
                    break  # nobody changed it: in sync
                if ver > known and not (dirty and mine.changed_at > theirs.changed_at):
                    break  # changed elsewhere, and more recently: theirs wins
                written = await self._remote(partial(self._write, account_id, ver, mine, known + 1))
                if written > 0:
                    self._dirty.discard(account_id)
                    self._remember(account_id, written, mine)
                    break
            self._dirty.discard(account_id)  # decided (a failure above leaves it for the next try)
        while self._unreleased:
            lease = self._unreleased[-1]
            await self._remote(partial(self.scripts.release, lease, _released(lease), 1))
            self._unreleased.pop()
        await self._remote(self._reload)
        await self._flush()

    # -- account status ---------------------------------------------------------------------

    def status(self, account_id: str) -> AccountStatus:
        cached = self._status.get(account_id)
        return cached[1] if cached is not None else AccountStatus()

    def in_flight(self, account_id: str) -> int:
        """Leases in Redis as last counted (every lease-refresh period), adjusted by this
        replica's own admits and releases since; during an outage, this replica's own."""
        remote = self._mine if self.degraded else self._in_flight
        return remote.get(account_id, 0) + self.fallback.in_flight(account_id)

    def keep_only(self, account_ids: set[str]) -> None:
        self._accounts = set(account_ids)
        for table in (self._status, self._in_flight, self._mine):
            for key in [k for k in table if k not in account_ids]:
                del table[key]
        self.fallback.keep_only(account_ids)

    async def update(
        self, account_id: str, change: Callable[[AccountStatus], AccountStatus]
    ) -> tuple[AccountStatus, AccountStatus]:
        if not self.degraded:
            with contextlib.suppress(Unavailable):
                return await self._update_remote(account_id, change)
        old, new = await self.fallback.update(account_id, change)
        if new != old:
            version = self._status.get(account_id, (0, old))[0]
            self._status[account_id] = (version, new)
            self._dirty.add(account_id)
            self._notify()
        return old, new

    async def _update_remote(
        self, account_id: str, change: Callable[[AccountStatus], AccountStatus]
    ) -> tuple[AccountStatus, AccountStatus]:
        """Read, change, compare-and-set on the version; again if another replica came first."""
        for attempt in range(CAS_ATTEMPTS):
            ver, old = await self._remote(partial(self._read, account_id))
            new = change(old)
            if new == old:
                self._remember(account_id, ver, old)
                return old, new
            if await self._remote(partial(self._write, account_id, ver, new, 0)) > 0:
                self._notify()
                return old, new
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RuntimeError(f"status of {account_id} kept changing under concurrent updates")

    async def _read(self, account_id: str) -> tuple[int, AccountStatus]:
        ver, doc = await self.redis.hmget(self.keys.status(account_id), ["ver", "doc"])
        return int(ver or 0), _decode(cast(str | None, doc))

    async def _write(self, account_id: str, expected: int, status: AccountStatus, at_least: int) -> int:
        version = max(expected + 1, at_least)
        raw = status.to_dict()
        message = orjson.dumps({"k": "s", "id": account_id, "ver": version, "doc": raw})
        doc = orjson.dumps(raw).decode()
        state, until = status.state.value, status.until
        written = await self.scripts.update(account_id, expected, version, state, until, doc, message)
        if written > 0:
            self._remember(account_id, written, status)
        return written

    def _remember(self, account_id: str, version: int, status: AccountStatus) -> None:
        if account_id in self._dirty:
            return  # changed here during an outage: resync decides
        cached = self._status.get(account_id)
        if cached is None or version >= cached[0]:
            self._status[account_id] = (version, status)

    async def _reload(self) -> None:
        ids = sorted(cast(set[str], await self.redis.smembers(self.keys.accounts)))
        if not ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for account_id in ids:
                pipe.hmget(self.keys.status(account_id), ["ver", "doc"])
            rows = await pipe.execute()
        for account_id, (ver, doc) in zip(ids, rows, strict=True):
            if ver is not None:
                self._remember(account_id, int(ver), _decode(doc))

    # -- change notification ----------------------------------------------------------------

    def _notify(self) -> None:
        self._generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def _listen(self) -> None:
        """Apply other replicas' status changes and wake waiters on releases (pub/sub)."""
        while not self._closing:
            await self._healthy.wait()
            pubsub = self._listener.pubsub()
            try:
                async with asyncio.timeout(self.timeout * 5):
                    await pubsub.subscribe(self.keys.events)
                await self._remote(self._reload)  # whatever changed while we were not listening
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_POLL)
                    if message is not None:
                        self._on_event(message["data"])
            except Unavailable:
                pass
            except FAILURES as exc:
                await self._failed(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _on_event(self, data: str) -> None:
        try:
            event = orjson.loads(data)
            if event["k"] == "s":
                self._remember(event["id"], int(event["ver"]), AccountStatus.from_dict(event["doc"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable state event", extra={"error": _describe(exc)})
        self._notify()

    async def wait_change(self, timeout: float) -> None:
        if timeout <= 0:
            return
        task = asyncio.current_task()
        seen = self._seen.pop(task, None) if task is not None else None
        if seen is not None and seen != self._generation:
            return  # something changed while this request's admit was on its way
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # -- admission and leases ---------------------------------------------------------------

    async def admit(
        self,
        client: ClientQuota | None,
        candidates: Sequence[Candidate],
        strategy: Strategy,
        cursor_key: str,
        exclude: frozenset[str],
        now: float,
    ) -> Admission:
        task = asyncio.current_task()
        if task is not None:
            self._seen[task] = self._generation
        if not self.degraded:
            token = secrets.token_hex(8)
            ttl = self.lease_ttl
            call = partial(
                self.scripts.admit, client, candidates, strategy, cursor_key, exclude, now, ttl, token
            )
            with contextlib.suppress(Unavailable):
                admission, count = await self._remote(call)
                if admission.lease is not None:
                    lease = admission.lease
                    limit = next(c.max_concurrency or 0 for c in candidates if c.id == lease.account_id)
                    self._held[token] = Held(lease, limit)
                    self._in_flight[lease.account_id] = count
                    self._mine[lease.account_id] = self._mine.get(lease.account_id, 0) + 1
                return admission
        admission = await self.fallback.admit(client, candidates, strategy, cursor_key, exclude, now)
        if admission.lease is not None:
            self._local.add(admission.lease.token)
        return admission

    async def release(self, lease: Lease) -> None:
        """Give the lease back. The Redis call runs in the background: the client's answer
        does not wait for it (a crash in between costs the lease's TTL, nothing else)."""
        if lease.token in self._local:
            self._local.discard(lease.token)
            await self.fallback.release(lease)
            self._notify()
            return
        held = self._held.pop(lease.token, None)
        if held is not None:
            self._in_flight[lease.account_id] = max(0, self._in_flight.get(lease.account_id, 1) - 1)
            self._mine[lease.account_id] = max(0, self._mine.get(lease.account_id, 1) - 1)
        if self.degraded:
            self._keep_unreleased(lease)
            return
        self._to_release.append((lease, _released(lease), held.limit if held else 1))
        if len(self._to_release) == 1:  # the first of this loop turn schedules the batch
            task = asyncio.get_running_loop().create_task(self._release_batch())
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def _release_batch(self) -> None:
        """Releases of one event-loop turn go to Redis in one call."""
        await asyncio.sleep(0)
        batch, self._to_release = self._to_release[:REFRESH_BATCH], self._to_release[REFRESH_BATCH:]
        if self._to_release:
            task = asyncio.get_running_loop().create_task(self._release_batch())
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
        try:
            await self._remote(partial(self.scripts.release_many, batch))
        except Unavailable:
            for lease, _, _ in batch:
                self._keep_unreleased(lease)
            return
        self._notify()

    def _keep_unreleased(self, lease: Lease) -> None:
        if len(self._unreleased) < UNRELEASED_KEPT:  # else its TTL frees it
            self._unreleased.append(lease)
        self._notify()

    async def refresh(self, leases: Sequence[Lease]) -> None:
        remote = [lease for lease in leases if lease.token not in self._local]
        for start in range(0, len(remote), REFRESH_BATCH):
            if self.degraded:
                return
            batch = remote[start : start + REFRESH_BATCH]
            with contextlib.suppress(Unavailable):
                await self._remote(partial(self.scripts.refresh, batch, self.lease_ttl))

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            await self.refresh([held.lease for held in self._held.values()])
            await self._count()

    async def _count(self) -> None:
        """Re-count the leases in Redis: other replicas' releases are not announced."""
        if self.degraded:
            return
        ids = sorted(self._accounts | set(self._in_flight) | set(self._mine))
        with contextlib.suppress(Unavailable):
            self._in_flight.update(await self._remote(partial(self.scripts.counts, ids)))

    # -- usage ------------------------------------------------------------------------------

    def record_usage(self, record: UsageRecord) -> None:
        self._usage.add(record)

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self._flush()

    async def _flush(self) -> None:
        if not self._usage or self.degraded:
            return
        batch, self._usage = self._usage, UsageBatch()
        try:
            await self._remote(partial(flush, self.redis, self.keys, batch))
        except Unavailable:
            batch.merge(self._usage)  # keep it for the next try
            self._usage = batch

    async def usage(self, first_day: str, last_day: str) -> UsageTable:
        await self._flush()
        if not self.degraded:
            with contextlib.suppress(Unavailable):
                return await self._remote(partial(read_usage, self.redis, self.keys, first_day, last_day))
        return self._usage.table(first_day, last_day)

    async def minutes(self, since_minute: int) -> dict[int, tuple[int, int]]:
        await self._flush()
        current = int(self.clock.now() // 60)
        span = list(range(max(since_minute, current - MINUTES_KEPT), current + 1))
        if not self.degraded:
            with contextlib.suppress(Unavailable):
                return await self._remote(partial(read_minutes, self.redis, self.keys, span))
        return {m: (v[0], v[1]) for m, v in self._usage.minutes.items() if m >= since_minute}


def _replace_with(status: AccountStatus, _old: AccountStatus) -> AccountStatus:
    return status


def _released(lease: Lease) -> bytes:
    return orjson.dumps({"k": "r", "id": lease.account_id})
