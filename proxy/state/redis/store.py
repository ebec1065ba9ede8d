"""The `redis` backend: pool state shared by every replica through one Redis.

Redis is the authority: admission reads statuses, buckets, leases and probe slots
inside one Lua script. When Redis does not answer within `redis_timeout`, an in-process
MemoryStore takes over (per-replica limits, `degraded`), and the two are reconciled when
Redis answers again. `RedisStore` is a facade over rooms, one idea each:

- `link.py`      is Redis there: bounded calls, the outage, recovery;
- `changes.py`   waking waiters, and other replicas' events by pub/sub;
- `statuses.py`  account statuses and this replica's cache of them;
- `leases.py`    concurrency leases: admit, batched release, keep-alive, counts;
- `usage.py`     the usage ledger, batched;
- `ledgers.py`   runtime client keys and budget counters (read in Redis, never cached).

A new kind of shared counter (budgets, sticky conversations) gets a room of its own
built like `usage.py`, with `resync()` and `close()`, listed in `self.rooms`; the
facade then resyncs it after an outage and flushes it on close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

from proxy.clock import Clock
from proxy.config import StateConfig
from proxy.core.account import AccountStatus
from proxy.core.admission import Admission, Ask, Candidate, Lease
from proxy.state.base import CredentialRecord, StateStore, UsageRecord, UsageTable
from proxy.state.memory import MemoryStore
from proxy.state.redis.changes import LISTEN_POLL, Changes, Subscriber
from proxy.state.redis.credentials import Credentials
from proxy.state.redis.keys import Keys
from proxy.state.redis.leases import Leases
from proxy.state.redis.ledgers import RedisClients, RedisCounters
from proxy.state.redis.link import Link, Unavailable
from proxy.state.redis.pipe import Pipe
from proxy.state.redis.scripts import Scripts
from proxy.state.redis.statuses import Statuses
from proxy.state.redis.target import connect, parse_target
from proxy.state.redis.usage import Usage


class Room(Protocol):
    async def resync(self) -> None:
        """Reconcile with Redis after an outage (raise `Unavailable` to be tried again)."""

    async def close(self) -> None:
        """Write out what is buffered."""


class RedisStore(StateStore):
    def __init__(
        self, config: StateConfig, clock: Clock, *, on_error: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.keys = Keys(config.key_prefix)
        target = parse_target(config.redis_url, config.sentinel_master)
        self.redis = connect(target, config.redis_timeout, config.redis_timeout)
        self._listener = connect(target, None, config.redis_timeout)  # pub/sub waits without a timeout
        self.pipe = Pipe(self.redis, config.redis_timeout)  # admit, release, refresh: pipelined
        self.scripts = Scripts(self.redis, self.keys, self.pipe)
        self.fallback = MemoryStore(None, clock)
        self.changes = Changes()
        self.link = Link(
            self.redis,
            clock,
            config.redis_timeout,
            on_error=on_error,
            on_outage=self._outage,
            resync=self._resync,
            on_back=self.changes.notify,
        )
        self.statuses = Statuses(self.redis, self.keys, self.scripts, self.link, self.changes, self.fallback)
        self.leases = Leases(self.scripts, self.link, self.changes, self.fallback, config.lease_ttl)
        self.usage_ledger = Usage(self.redis, self.keys, self.link, clock)
        self.credentials = Credentials(self.redis, self.keys, self.link, self._credential_changed)
        self.rooms: tuple[Room, ...] = (self.statuses, self.leases, self.usage_ledger, self.credentials)
        self.clients = RedisClients(self.redis, self.keys, self.link, self.fallback.clients)
        self.budgets = RedisCounters(self.redis, self.keys, self.link, self.fallback.budgets)
        self.subscriber = Subscriber(
            self._listener,
            self.keys.events,
            self.link,
            self.changes,
            reload=self._reload,
            on_event=self._on_event,
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def degraded(self) -> bool:
        return self.link.degraded

    @degraded.setter
    def degraded(self, value: bool) -> None:
        self.link.degraded = value

    @property
    def retry_interval(self) -> float:
        return self.link.retry_interval

    @retry_interval.setter
    def retry_interval(self, seconds: float) -> None:
        self.link.retry_interval = seconds

    @property
    def errors(self) -> int:
        return self.link.errors

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        with contextlib.suppress(Unavailable):
            await self.link.call(self._reload)
            self.link.healthy.set()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.subscriber.listen()),
            loop.create_task(self.leases.keep_alive()),
            loop.create_task(self.usage_ledger.flush_every()),
        ]

    async def close(self) -> None:
        self.subscriber.closing = True
        recovery = self.link.stop()
        tasks = [*self._tasks, *([recovery] if recovery else [])]
        for task in tasks:
            task.cancel()
        if tasks:  # redis-py's pub/sub read can swallow a cancel: the flag ends that loop
            await asyncio.wait(tasks, timeout=LISTEN_POLL * 2)
        self._tasks = []
        for room in self.rooms:
            await room.close()
        await self.pipe.close()
        await self.redis.aclose()
        await self._listener.aclose()

    async def _reload(self) -> None:
        await self.statuses.reload()
        await self.credentials.reload()

    def _on_event(self, data: str) -> None:
        self.statuses.on_event(data)
        self.credentials.on_event(data)

    def _credential_changed(self, account_id: str) -> None:
        if self.on_credential is not None:
            self.on_credential(account_id)

    async def _outage(self) -> None:
        await self.statuses.seed_fallback()

    async def _resync(self) -> None:
        for room in self.rooms:
            await room.resync()

    # -- account status ---------------------------------------------------------------------

    def status(self, account_id: str) -> AccountStatus:
        return self.statuses.get(account_id)

    async def update(
        self, account_id: str, change: Callable[[AccountStatus], AccountStatus]
    ) -> tuple[AccountStatus, AccountStatus]:
        return await self.statuses.update(account_id, change)

    def keep_only(self, account_ids: set[str]) -> None:
        self.statuses.keep_only(account_ids)
        self.leases.keep_only(account_ids)
        self.credentials.keep_only(account_ids)
        self.fallback.keep_only(account_ids)

    async def wait_change(self, timeout: float) -> None:
        await self.changes.wait(timeout)

    # -- admission and leases ---------------------------------------------------------------

    def in_flight(self, account_id: str) -> int:
        return self.leases.in_flight(account_id)

    async def admit(self, ask: Ask) -> Admission:
        self.changes.mark()
        return await self.leases.admit(ask)

    async def hold(self, candidate: Candidate) -> Lease | None:
        return await self.leases.hold(candidate)

    async def release(self, lease: Lease) -> None:
        await self.leases.release(lease)

    async def refresh(self, leases: Sequence[Lease]) -> None:
        await self.leases.refresh(leases)

    # -- operator credentials and fleet locks -----------------------------------------------

    def credential(self, account_id: str) -> CredentialRecord | None:
        return self.credentials.get(account_id)

    async def set_credential(self, account_id: str, record: CredentialRecord | None) -> None:
        await self.credentials.set(account_id, record)

    async def try_lock(self, name: str, ttl: float) -> bool:
        """SET NX with an expiry; during an outage, this replica's own lock."""
        if not self.link.degraded:
            key, ms = self.keys.lock(name), max(1, int(ttl * 1000))
            with contextlib.suppress(Unavailable):
                return bool(await self.link.call(partial(self.redis.set, key, "1", nx=True, px=ms)))
        return await self.fallback.try_lock(name, ttl)

    # -- usage ------------------------------------------------------------------------------

    def record_usage(self, record: UsageRecord) -> None:
        self.usage_ledger.record(record)

    async def usage(self, first_day: str, last_day: str) -> UsageTable:
        return await self.usage_ledger.usage(first_day, last_day)

    async def minutes(self, since_minute: int) -> dict[int, tuple[int, int]]:
        return await self.usage_ledger.minutes(since_minute)
