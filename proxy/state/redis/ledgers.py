"""Runtime clients and budget counters in Redis (issue 12): every replica reads them there.

No replica caches a key's verdict: a lookup by key digest is one script call, so a key
rotated, disabled or deleted on one replica stops working on every replica at once.
Budget admission is one script that checks the limits and takes the request together,
so replicas together never let a client past its requests budget. During an outage both
fall back to this replica's memory (the last records seen; per-replica counters).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from proxy.state.ledgers import (
    ClientRegistry,
    Counters,
    Counts,
    MemoryClients,
    MemoryCounters,
    Record,
    Unreachable,
)
from proxy.state.redis.keys import Keys
from proxy.state.redis.link import Link, Unavailable


def _script(client: aioredis.Redis, name: str) -> AsyncScript:
    source = resources.files("proxy.state").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")
    return client.register_script(source)


class RedisClients(ClientRegistry):
    def __init__(self, redis: aioredis.Redis, keys: Keys, link: Link, fallback: MemoryClients) -> None:
        self.redis = redis
        self.keys = keys
        self.link = link
        self.fallback = fallback  # the last records seen, served while Redis is away
        self._put = _script(redis, "client_put")
        self._remove = _script(redis, "client_remove")
        self._find = _script(redis, "client_find")

    @property
    def _tables(self) -> list[str]:
        return [self.keys.clients, self.keys.client_keys]

    async def all(self) -> dict[str, Record]:
        if not self.link.degraded:
            try:
                raw = await self.link.call(partial(self.redis.hgetall, self.keys.clients))
            except Unavailable:
                pass
            else:
                records: dict[str, Record] = {str(n): orjson.loads(doc) for n, doc in raw.items()}
                self.fallback.load(records)
                return records
        return await self.fallback.all()

    async def find(self, digest: str) -> Record | None:
        if not self.link.degraded:
            try:
                doc = await self.link.call(partial(self._find, keys=self._tables, args=[digest]))
            except Unavailable:
                pass
            else:
                record: Record | None = orjson.loads(doc) if doc else None
                if record is not None:
                    await self.fallback.put(record)
                return record
        return await self.fallback.find(digest)

    async def put(self, record: Record, *, new: bool = False) -> bool:
        doc = orjson.dumps(record).decode()
        args = [record["name"], doc, record["digest"], "1" if new else "0"]
        try:
            stored = await self.link.call(partial(self._put, keys=self._tables, args=args))
        except Unavailable:
            raise Unreachable("redis") from None
        if stored:
            await self.fallback.put(record)
        return bool(stored)

    async def remove(self, name: str) -> bool:
        try:
            removed = await self.link.call(partial(self._remove, keys=self._tables, args=[name]))
        except Unavailable:
            raise Unreachable("redis") from None
        await self.fallback.remove(name)
        return bool(removed)


class RedisCounters(Counters):
    def __init__(self, redis: aioredis.Redis, keys: Keys, link: Link, fallback: MemoryCounters) -> None:
        self.redis = redis
        self.keys = keys
        self.link = link
        self.fallback = fallback  # per-replica counting while Redis is away
        self._admit = _script(redis, "budget")

    async def admit(
        self, key: str, limits: Mapping[str, int], take: Mapping[str, int], expires_at: float
    ) -> str | None:
        if not self.link.degraded:
            args: list[Any] = [int(expires_at) + 1, len(limits)]
            for field, limit in limits.items():
                args += [field, limit]
            for field, amount in take.items():
                args += [field, amount]
            try:
                refused = await self.link.call(partial(self._admit, keys=[self.keys.budget(key)], args=args))
            except Unavailable:
                pass
            else:
                return str(refused) or None
        return await self.fallback.admit(key, limits, take, expires_at)

    async def add(self, key: str, amounts: Mapping[str, int], expires_at: float) -> Counts:
        if not self.link.degraded:
            try:
                return await self.link.call(partial(self._add, self.keys.budget(key), amounts, expires_at))
            except Unavailable:
                pass
        return await self.fallback.add(key, amounts, expires_at)

    async def _add(self, name: str, amounts: Mapping[str, int], expires_at: float) -> Counts:
        async with self.redis.pipeline(transaction=True) as pipe:
            for field, amount in amounts.items():
                if field == "last_used":
                    pipe.hset(name, field, amount)
                elif amount:
                    pipe.hincrby(name, field, amount)
            pipe.expireat(name, int(expires_at) + 1)
            pipe.hgetall(name)
            results = await pipe.execute()
        return {f: int(v) for f, v in results[-1].items()}

    async def read(self, keys: list[str]) -> list[Counts]:
        if not self.link.degraded and keys:
            try:
                return await self.link.call(partial(self._read, keys))
            except Unavailable:
                pass
        return await self.fallback.read(keys)

    async def _read(self, keys: list[str]) -> list[Counts]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self.keys.budget(key))
            rows = await pipe.execute()
        return [{f: int(v) for f, v in row.items()} for row in rows]
