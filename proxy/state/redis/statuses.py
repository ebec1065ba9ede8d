"""Account statuses in Redis, and this replica's cache of them for the cheap reads.

Writes are compare-and-set on a version (update.lua); other replicas' writes arrive by
pub/sub (`on_event`). During an outage a change goes to the fallback and the account is
marked dirty; `resync` then pushes it unless another replica changed it more recently.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from functools import partial
from typing import cast

import orjson
import redis.asyncio as aioredis

from proxy.core.account import AccountStatus
from proxy.state.memory import MemoryStore
from proxy.state.redis.changes import Changes
from proxy.state.redis.keys import Keys
from proxy.state.redis.link import Link, Unavailable, describe
from proxy.state.redis.scripts import Scripts

log = logging.getLogger("pool_proxy.state")

CAS_ATTEMPTS = 32

Change = Callable[[AccountStatus], AccountStatus]


def _decode(doc: str | None) -> AccountStatus:
    return AccountStatus.from_dict(orjson.loads(doc)) if doc else AccountStatus()


class Statuses:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        scripts: Scripts,
        link: Link,
        changes: Changes,
        fallback: MemoryStore,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.link = link
        self.changes = changes
        self.fallback = fallback
        self._cache: dict[str, tuple[int, AccountStatus]] = {}  # id -> (version, status)
        self._dirty: set[str] = set()  # changed during an outage

    def get(self, account_id: str) -> AccountStatus:
        cached = self._cache.get(account_id)
        return cached[1] if cached is not None else AccountStatus()

    def keep_only(self, account_ids: set[str]) -> None:
        for key in [k for k in self._cache if k not in account_ids]:
            del self._cache[key]

    async def update(self, account_id: str, change: Change) -> tuple[AccountStatus, AccountStatus]:
        if not self.link.degraded:
            try:
                return await self._update_remote(account_id, change)
            except Unavailable:
                pass
        old, new = await self.fallback.update(account_id, change)
        if new != old:
            version = self._cache.get(account_id, (0, old))[0]
            self._cache[account_id] = (version, new)
            self._dirty.add(account_id)
            self.changes.notify()
        return old, new

    async def _update_remote(self, account_id: str, change: Change) -> tuple[AccountStatus, AccountStatus]:
        """Read, change, compare-and-set on the version; again if another replica came first."""
        for attempt in range(CAS_ATTEMPTS):
            ver, old = await self.link.call(partial(self._read, account_id))
            new = change(old)
            if new == old:
                self._remember(account_id, ver, old)
                return old, new
            if await self.link.call(partial(self._write, account_id, ver, new, 0)) > 0:
                self.changes.notify()
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
        cached = self._cache.get(account_id)
        if cached is None or version >= cached[0]:
            self._cache[account_id] = (version, status)

    async def reload(self) -> None:
        """Read every status from Redis (at start, after an outage, on a new subscription)."""
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

    def on_event(self, data: str) -> None:
        """A status change published by any replica."""
        try:
            event = orjson.loads(data)
            if event["k"] == "s":
                self._remember(event["id"], int(event["ver"]), AccountStatus.from_dict(event["doc"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable state event", extra={"error": describe(exc)})

    async def seed_fallback(self) -> None:
        """An outage begins: the fallback starts from the statuses we know."""
        for account_id, (_, status) in self._cache.items():
            await self.fallback.update(account_id, partial(_replace_with, status))

    async def resync(self) -> None:
        """Push what changed here during the outage (or what a restarted Redis lost), then re-read."""
        for account_id in sorted(set(self._cache) | self._dirty):
            known, mine = self._cache.get(account_id, (0, AccountStatus()))
            dirty = account_id in self._dirty
            for _ in range(CAS_ATTEMPTS):
                ver, theirs = await self.link.call(partial(self._read, account_id))
                if ver == known and not dirty:
                    break  # nobody changed it: in sync
                if ver > known and not (dirty and mine.changed_at > theirs.changed_at):
                    break  # changed elsewhere, and more recently: theirs wins
                written = await self.link.call(partial(self._write, account_id, ver, mine, known + 1))
                if written > 0:
                    self._dirty.discard(account_id)
                    self._remember(account_id, written, mine)
                    break
            self._dirty.discard(account_id)  # decided (a failure above leaves it for the next try)
        await self.link.call(self.reload)

    async def close(self) -> None:
        """Nothing is buffered: every write went to Redis or the fallback at once."""


def _replace_with(status: AccountStatus, _old: AccountStatus) -> AccountStatus:
    return status
