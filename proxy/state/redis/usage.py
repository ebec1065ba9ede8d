"""Usage counters in Redis: one hash per day, one short-lived hash per minute.

Requests add to a local batch (no Redis call on the hot path); the store flushes the
batch every second and on close. A batch that cannot be written is kept for the next try.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta
from functools import partial

import redis.asyncio as aioredis

from proxy.clock import Clock
from proxy.state.base import USAGE_FIELDS, UsageRecord, UsageTable
from proxy.state.redis.keys import Keys
from proxy.state.redis.link import Link, Unavailable

MINUTE_TTL = 2 * 3600  # seconds: the dashboard shows the last hour
MINUTES_KEPT = 120
FLUSH_INTERVAL = 1.0  # seconds between flushes


class Usage:
    """The usage ledger's room: a local batch, flushed to Redis; reads go to Redis."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, link: Link, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.link = link
        self.clock = clock
        self._batch = UsageBatch()

    def record(self, record: UsageRecord) -> None:
        self._batch.add(record)

    async def flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        if not self.link.degraded:
            with contextlib.suppress(Unavailable):
                await self._flush()

    async def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, UsageBatch()
        try:
            await self.link.call(partial(flush, self.redis, self.keys, batch))
        except Unavailable:
            batch.merge(self._batch)  # keep it for the next try
            self._batch = batch
            raise

    async def usage(self, first_day: str, last_day: str) -> UsageTable:
        await self.flush()
        if not self.link.degraded:
            try:
                return await self.link.call(partial(read_usage, self.redis, self.keys, first_day, last_day))
            except Unavailable:
                pass
        return self._batch.table(first_day, last_day)

    async def minutes(self, since_minute: int) -> dict[int, tuple[int, int]]:
        await self.flush()
        current = int(self.clock.now() // 60)
        span = list(range(max(since_minute, current - MINUTES_KEPT), current + 1))
        if not self.link.degraded:
            try:
                return await self.link.call(partial(read_minutes, self.redis, self.keys, span))
            except Unavailable:
                pass
        return {m: (v[0], v[1]) for m, v in self._batch.minutes.items() if m >= since_minute}

    async def resync(self) -> None:
        """What was counted during the outage goes to Redis before the link is healthy."""
        await self._flush()

    async def close(self) -> None:
        await self.flush()


class UsageBatch:
    def __init__(self) -> None:
        self.days: dict[str, dict[str, int]] = {}  # day -> "dimension|field|name" -> count
        self.minutes: dict[int, list[int]] = {}  # epoch minute -> [requests, failures]

    def __bool__(self) -> bool:
        return bool(self.days or self.minutes)

    def add(self, record: UsageRecord) -> None:
        counts = (
            1,
            0 if record.ok else 1,
            record.prompt_tokens,
            record.completion_tokens,
            1 if record.estimated else 0,
            record.usd_nanos,
        )
        day = self.days.setdefault(record.day, {})
        for dimension, name in (
            ("client", record.client),
            ("account", record.account),
            ("model", record.model),
        ):
            if not name:
                continue
            for field, count in zip(USAGE_FIELDS, counts, strict=True):
                key = f"{dimension}|{field}|{name}"
                day[key] = day.get(key, 0) + count
        minute = self.minutes.setdefault(record.minute, [0, 0])
        minute[0] += 1
        minute[1] += 0 if record.ok else 1

    def merge(self, other: UsageBatch) -> None:
        for day, fields in other.days.items():
            mine = self.days.setdefault(day, {})
            for key, count in fields.items():
                mine[key] = mine.get(key, 0) + count
        for minute, (requests, failures) in other.minutes.items():
            row = self.minutes.setdefault(minute, [0, 0])
            row[0] += requests
            row[1] += failures

    def table(self, first_day: str, last_day: str) -> UsageTable:
        return {d: _table(f) for d, f in self.days.items() if first_day <= d <= last_day}


def _table(fields: dict[str, int]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for key, count in fields.items():
        dimension, field, name = key.split("|", 2)
        row = out.setdefault(dimension, {}).setdefault(name, dict.fromkeys(USAGE_FIELDS, 0))
        row[field] = row.get(field, 0) + int(count)
    return out


async def flush(client: aioredis.Redis, keys: Keys, batch: UsageBatch) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for day, fields in batch.days.items():
            for key, count in fields.items():
                if count:
                    pipe.hincrby(keys.usage(day), key, count)
        for minute, (requests, failures) in batch.minutes.items():
            pipe.hincrby(keys.minute(minute), "requests", requests)
            pipe.hincrby(keys.minute(minute), "failures", failures)
            pipe.expire(keys.minute(minute), MINUTE_TTL)
        await pipe.execute()


def days_between(first_day: str, last_day: str, most: int = 400) -> list[str]:
    first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    last = min(last, first + timedelta(days=most))
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


async def read_usage(client: aioredis.Redis, keys: Keys, first_day: str, last_day: str) -> UsageTable:
    days = days_between(first_day, last_day)
    async with client.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.hgetall(keys.usage(day))
        rows = await pipe.execute()
    return {day: _table(fields) for day, fields in zip(days, rows, strict=True) if fields}


async def read_minutes(client: aioredis.Redis, keys: Keys, minutes: list[int]) -> dict[int, tuple[int, int]]:
    async with client.pipeline(transaction=False) as pipe:
        for minute in minutes:
            pipe.hmget(keys.minute(minute), "requests", "failures")
        rows = await pipe.execute()
    return {
        m: (int(r[0] or 0), int(r[1] or 0)) for m, r in zip(minutes, rows, strict=True) if r[0] is not None
    }
