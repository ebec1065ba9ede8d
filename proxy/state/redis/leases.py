"""Concurrency leases in Redis: taken by admit, released in batches, kept alive, counted.

Redis holds every replica's leases (a sorted set per account, scored by expiry). This
replica keeps the ones it holds alive every `lease_ttl / 3` and, in the same beat,
re-counts every account's live leases: other replicas' releases are not announced, so
`in_flight` would otherwise drift. Releases leave the response path: those of one
event-loop turn go to Redis in one call. During an outage, leases come from the
in-process fallback, and releases of Redis leases wait for Redis to come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import orjson

from proxy.core.admission import Admission, Ask, Candidate, Lease
from proxy.state.memory import MemoryStore
from proxy.state.redis.changes import Changes
from proxy.state.redis.link import Link, Unavailable
from proxy.state.redis.scripts import Scripts

BATCH = 500  # leases per release or refresh call
UNRELEASED_KEPT = 10_000


@dataclass(frozen=True)
class Held:
    """A lease this process holds in Redis, and its account's concurrency limit."""

    lease: Lease
    limit: int


def _released(lease: Lease) -> bytes:
    return orjson.dumps({"k": "r", "id": lease.account_id})


class Leases:
    def __init__(
        self, scripts: Scripts, link: Link, changes: Changes, fallback: MemoryStore, lease_ttl: float
    ) -> None:
        self.scripts = scripts
        self.link = link
        self.changes = changes
        self.fallback = fallback
        self.lease_ttl = lease_ttl
        self._counted: dict[str, int] = {}  # leases in Redis (all replicas), as last counted
        self._held: dict[str, Held] = {}  # Redis leases of this process, by token
        self._mine: dict[str, int] = {}  # of those, how many per account
        self._accounts: set[str] = set()  # the pool's accounts, whose leases are counted
        self._local: set[str] = set()  # tokens of leases the fallback gave out
        self._to_release: list[tuple[Lease, bytes, int]] = []  # batched into one call
        self._releasing: set[asyncio.Task[None]] = set()
        self._unreleased: list[Lease] = []  # released during an outage

    def in_flight(self, account_id: str) -> int:
        """Leases in Redis as last counted, adjusted by this replica's admits and releases
        since; during an outage, the leases this replica holds."""
        remote = self._mine if self.link.degraded else self._counted
        return remote.get(account_id, 0) + self.fallback.in_flight(account_id)

    def keep_only(self, account_ids: set[str]) -> None:
        self._accounts = set(account_ids)
        for table in (self._counted, self._mine):
            for key in [k for k in table if k not in account_ids]:
                del table[key]

    async def admit(self, ask: Ask) -> Admission:
        if not self.link.degraded:
            token = secrets.token_hex(8)
            call = partial(self.scripts.admit, ask, self.lease_ttl, token)
            try:
                admission, count = await self.link.call(call)
            except Unavailable:
                pass
            else:
                if admission.lease is not None:
                    account_id = admission.lease.account_id
                    limit = next(c.max_concurrency or 0 for c in ask.candidates if c.id == account_id)
                    self._held[token] = Held(admission.lease, limit)
                    self._counted[account_id] = count
                    self._mine[account_id] = self._mine.get(account_id, 0) + 1
                return admission
        admission = await self.fallback.admit(ask)
        if admission.lease is not None:
            self._local.add(admission.lease.token)
        return admission

    async def hold(self, candidate: Candidate) -> Lease | None:
        if not self.link.degraded:
            token = secrets.token_hex(8)
            try:
                count = await self.link.call(partial(self.scripts.hold, candidate, self.lease_ttl, token))
            except Unavailable:
                pass
            else:
                if count < 0:
                    return None
                lease = Lease(candidate.id, token)
                self._held[token] = Held(lease, candidate.max_concurrency or 0)
                self._counted[candidate.id] = count
                self._mine[candidate.id] = self._mine.get(candidate.id, 0) + 1
                return lease
        local = await self.fallback.hold(candidate)
        if local is not None:
            self._local.add(local.token)
        return local

    async def release(self, lease: Lease) -> None:
        """Give the lease back. The Redis call runs in the background: the client's answer
        does not wait for it (a crash in between costs the lease's TTL, nothing else)."""
        if lease.token in self._local:
            self._local.discard(lease.token)
            await self.fallback.release(lease)
            self.changes.notify()
            return
        held = self._held.pop(lease.token, None)
        if held is not None:
            for table in (self._counted, self._mine):
                table[lease.account_id] = max(0, table.get(lease.account_id, 1) - 1)
        if self.link.degraded:
            self._keep_unreleased(lease)
            return
        self._to_release.append((lease, _released(lease), held.limit if held else 1))
        if len(self._to_release) == 1:  # the first of this loop turn schedules the batch
            self._spawn_batch()

    def _spawn_batch(self) -> None:
        task = asyncio.get_running_loop().create_task(self._release_batch())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_batch(self) -> None:
        """Releases of one event-loop turn go to Redis in one call."""
        await asyncio.sleep(0)
        batch, self._to_release = self._to_release[:BATCH], self._to_release[BATCH:]
        if self._to_release:
            self._spawn_batch()
        try:
            await self.link.call(partial(self.scripts.release_many, batch))
        except Unavailable:
            for lease, _, _ in batch:
                self._keep_unreleased(lease)
            return
        self.changes.notify()

    def _keep_unreleased(self, lease: Lease) -> None:
        if len(self._unreleased) < UNRELEASED_KEPT:  # else its TTL frees it
            self._unreleased.append(lease)
        self.changes.notify()

    async def refresh(self, leases: Sequence[Lease]) -> None:
        remote = [lease for lease in leases if lease.token not in self._local]
        for start in range(0, len(remote), BATCH):
            if self.link.degraded:
                return
            batch = remote[start : start + BATCH]
            with contextlib.suppress(Unavailable):
                await self.link.call(partial(self.scripts.refresh, batch, self.lease_ttl))

    async def keep_alive(self) -> None:
        """Every third of the TTL: push back the expiry of held leases, then re-count."""
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            await self.refresh([held.lease for held in self._held.values()])
            await self.count()

    async def count(self) -> None:
        if not self.link.degraded:
            with contextlib.suppress(Unavailable):
                await self._recount()

    async def _recount(self) -> None:
        """Read every account's live lease count from Redis."""
        ids = sorted(self._accounts | set(self._counted) | set(self._mine))
        self._counted.update(await self.link.call(partial(self.scripts.counts, ids)))

    async def resync(self) -> None:
        """Release in Redis what was released during the outage, then count afresh (a
        restarted Redis lost every lease; other replicas released theirs meanwhile)."""
        while self._unreleased:
            lease = self._unreleased[-1]
            await self.link.call(partial(self.scripts.release, lease, _released(lease), 1))
            self._unreleased.pop()
        await self._recount()

    async def close(self) -> None:
        """Streams are over: release what is held now rather than wait for the TTL."""
        for held in list(self._held.values()):
            await self.release(held.lease)
        if self._releasing:
            await asyncio.wait(self._releasing, timeout=self.link.timeout * 2)
