"""Operators' replacement credentials in Redis (sealed), shared by every replica at once.

One hash holds them; a change is published on the events channel with the record
itself, so other replicas switch without reading Redis. During an outage a change stays
here (and in the fallback) and is pushed by `resync`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from proxy.state.base import CredentialRecord
from proxy.state.redis.keys import Keys
from proxy.state.redis.link import Link, Unavailable, describe

log = logging.getLogger("pool_proxy.state")


def _decode(doc: Any) -> CredentialRecord | None:
    return (
        CredentialRecord.from_dict(orjson.loads(doc) if isinstance(doc, str | bytes) else doc)
        if doc
        else None
    )


class Credentials:
    def __init__(
        self, redis: aioredis.Redis, keys: Keys, link: Link, on_change: Callable[[str], None]
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.link = link
        self.on_change = on_change  # another replica (or a reload from Redis) changed one
        self._records: dict[str, CredentialRecord] = {}
        self._dirty: set[str] = set()  # changed here during an outage

    def get(self, account_id: str) -> CredentialRecord | None:
        return self._records.get(account_id)

    def keep_only(self, account_ids: set[str]) -> None:
        for key in [k for k in self._records if k not in account_ids]:
            del self._records[key]

    async def set(self, account_id: str, record: CredentialRecord | None) -> None:
        self._put(account_id, record)
        try:
            await self.link.call(partial(self._write, account_id, record))
        except Unavailable:
            self._dirty.add(account_id)

    def _put(self, account_id: str, record: CredentialRecord | None) -> bool:
        """Remember `record`; True when that changed what this replica knew."""
        if record is None:
            return self._records.pop(account_id, None) is not None
        changed = self._records.get(account_id) != record
        self._records[account_id] = record
        return changed

    async def _write(self, account_id: str, record: CredentialRecord | None) -> None:
        doc = record.to_dict() if record is not None else None
        message = orjson.dumps({"k": "c", "id": account_id, "doc": doc})
        async with self.redis.pipeline(transaction=True) as pipe:
            if record is None:
                pipe.hdel(self.keys.credentials, account_id)
            else:
                pipe.hset(self.keys.credentials, account_id, orjson.dumps(doc).decode())
            pipe.publish(self.keys.events, message)
            await pipe.execute()

    def on_event(self, data: str) -> None:
        try:
            event = orjson.loads(data)
            if event["k"] != "c":
                return
            account_id = str(event["id"])
            if account_id not in self._dirty and self._put(account_id, _decode(event["doc"])):
                self.on_change(account_id)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable credential event", extra={"error": describe(exc)})

    async def reload(self) -> None:
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.credentials))
        fresh = {k: r for k, v in raw.items() if (r := _decode(v)) is not None}
        for account_id in set(self._records) | set(fresh):
            if account_id not in self._dirty and self._put(account_id, fresh.get(account_id)):
                self.on_change(account_id)

    async def resync(self) -> None:
        """Push what an operator changed here during the outage, then read the rest."""
        for account_id in sorted(self._dirty):
            await self.link.call(partial(self._write, account_id, self._records.get(account_id)))
            self._dirty.discard(account_id)
        await self.link.call(self.reload)

    async def close(self) -> None:
        """Nothing is buffered beyond what `resync` pushes."""
