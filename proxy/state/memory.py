"""The embedded backend: state in this process, snapshotted to a JSON file."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from proxy.clock import Clock
from proxy.core.account import AccountStatus, State
from proxy.core.admission import (
    Admission,
    Ask,
    Blocker,
    Candidate,
    ClientQuota,
    ClientWindow,
    Lease,
    Refusal,
    Sticky,
)
from proxy.state.base import (
    USAGE_FIELDS,
    CredentialRecord,
    StateStore,
    UsageRecord,
    UsageTable,
)
from proxy.state.ledgers import MemoryClients, MemoryCounters
from proxy.state.limiter import Limiter, Limiters
from proxy.state.order import order

log = logging.getLogger("pool_proxy.state")

SNAPSHOT_VERSION = 1
SNAPSHOT_DELAY = 0.5  # seconds: bursts of changes become one write
MINUTES_KEPT = 120
STICKY_KEPT = 50_000  # conversations remembered; the least recently used go first


def client_window(limiters: Limiters, client: ClientQuota | None) -> ClientWindow | None:
    if client is None or client.limit is None:
        return None
    return limiters.get(client.name, client.limit).window()


class MemoryStore(StateStore):
    def __init__(self, path: str | None, clock: Clock) -> None:
        self.path = Path(path) if path else None
        self.clock = clock
        self._status: dict[str, AccountStatus] = {}
        self._in_flight: dict[str, int] = {}
        self._probes: dict[str, str] = {}
        self._cursors: dict[str, int] = {}
        self._clients = Limiters(clock)
        self._accounts = Limiters(clock)
        self._usage: UsageTable = {}
        self._pending: dict[tuple[str, str, str, str], list[int]] = {}
        self._minutes: dict[int, list[int]] = {}
        self._changed = asyncio.Event()
        self._save_task: asyncio.Task[None] | None = None
        self._tokens = itertools.count(1)
        self._credentials: dict[str, CredentialRecord] = {}
        self._sticky: OrderedDict[str, tuple[str, float]] = OrderedDict()  # key -> (account, until)
        self._locks: dict[str, float] = {}  # name -> monotonic expiry
        self.read_only = False  # `check --probe` next to a running gateway: read, never write
        self.clients: MemoryClients = MemoryClients(self._dirty)
        self.budgets: MemoryCounters = MemoryCounters(clock.now, self._dirty)

    # -- lifecycle and persistence ---------------------------------------------------------

    async def start(self) -> None:
        if self.path is None:
            return
        try:
            raw = orjson.loads(self.path.read_bytes())
            self._load(raw)
            log.info("state loaded", extra={"path": str(self.path), "accounts": len(self._status)})
        except FileNotFoundError:
            log.info("no state snapshot yet; starting clean", extra={"path": str(self.path)})
        except Exception as exc:  # a bad snapshot must never keep the gateway down
            log.error(
                "state snapshot unreadable; starting clean",
                extra={"path": str(self.path), "error": f"{type(exc).__name__}: {exc}"},
            )
            self._status.clear()
            self._usage.clear()

    def _load(self, raw: Any) -> None:
        if not isinstance(raw, dict) or raw.get("version") != SNAPSHOT_VERSION:
            raise ValueError("not a pool-proxy snapshot of a known version")
        self._status = {k: AccountStatus.from_dict(v) for k, v in raw["accounts"].items()}
        credentials = raw.get("credentials", {})
        self._credentials = {k: CredentialRecord.from_dict(v) for k, v in credentials.items()}
        usage = raw.get("usage", {})
        if not isinstance(usage, dict):
            raise ValueError("usage is not a mapping")
        self._usage = usage
        self.clients.load(raw.get("clients", {}))
        self.budgets.load(raw.get("budgets", {}))

    async def close(self) -> None:
        if self._save_task is not None:
            self._save_task.cancel()
            self._save_task = None
        self.save_now()

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "saved_at": self.clock.now(),
            "accounts": {k: v.to_dict() for k, v in self._status.items()},
            "credentials": {k: v.to_dict() for k, v in self._credentials.items()},
            "usage": self._fold(),
            "clients": self.clients.records,  # key digests only, never a key
            "budgets": self.budgets.dump(),
        }

    def save_now(self) -> None:
        if self.path is not None and not self.read_only:
            self._write(self.path, orjson.dumps(self.snapshot()))

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Write the snapshot atomically: a temp file, fsync, then rename over the old one.

        Static on purpose: it runs in a worker thread and must touch no store state.
        """
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.error("could not write state snapshot", extra={"error": str(exc)})

    def _dirty(self) -> None:
        if self.path is None or self._save_task is not None or self.read_only:
            return
        try:
            self._save_task = asyncio.get_running_loop().create_task(self._save_later())
        except RuntimeError:
            self.save_now()

    async def _save_later(self) -> None:
        await asyncio.sleep(SNAPSHOT_DELAY)
        self._save_task = None
        if self.path is not None:  # serialised here, on the loop; only the disk write is threaded
            await asyncio.to_thread(self._write, self.path, orjson.dumps(self.snapshot()))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- account status -------------------------------------------------------------------

    def status(self, account_id: str) -> AccountStatus:
        return self._status.get(account_id) or AccountStatus()

    def in_flight(self, account_id: str) -> int:
        return self._in_flight.get(account_id, 0)

    async def update(
        self, account_id: str, change: Callable[[AccountStatus], AccountStatus]
    ) -> tuple[AccountStatus, AccountStatus]:
        old = self.status(account_id)
        new = change(old)
        if new != old:
            self._status[account_id] = new
            self._dirty()
            self._notify()
        return old, new

    def keep_only(self, account_ids: set[str]) -> None:
        for table in (self._status, self._in_flight, self._probes, self._credentials):
            for key in [k for k in table if k not in account_ids]:
                del table[key]

    # -- admission --------------------------------------------------------------------------

    async def admit(self, ask: Ask) -> Admission:
        client, exclude, now, sticky = ask.client, ask.exclude, ask.now, ask.sticky
        client_limiter = None
        if client is not None and client.limit is not None and client.take:
            client_limiter = self._clients.get(client.name, client.limit)
            if not client_limiter.has_capacity():
                return Admission(None, client_limiter.window(), client_wait=client_limiter.wait())
        cursor = self._cursors.get(ask.cursor_key, 0)
        refusals: list[Refusal] = []
        ordered = order(ask.candidates, ask.strategy, cursor, self.in_flight)
        if sticky is not None:
            ordered = self._sticky_first(ordered, sticky.key, now)
        for candidate in ordered:
            if candidate.id in exclude:
                continue
            refusal = self._refusal(candidate, now)
            if refusal is not None:
                refusals.append(refusal)
                continue
            # Both buckets had a token (checked above, nothing awaited since): take both.
            lease = self._take(candidate, now)
            if client_limiter is not None:
                client_limiter.take()
            if not exclude:  # failover attempts do not move the round-robin cursor
                self._cursors[ask.cursor_key] = cursor + 1
            if sticky is not None:
                self._remember_sticky(sticky, candidate.id, now)
            return Admission(lease, client_window(self._clients, client))
        return Admission(None, client_window(self._clients, client), refusals=tuple(refusals))

    def _sticky_first(self, ordered: list[Candidate], key: str, now: float) -> list[Candidate]:
        found = self._sticky.get(key)
        if found is None or found[1] <= now:
            return ordered
        preferred = [c for c in ordered if c.id == found[0]]
        return preferred + [c for c in ordered if c.id != found[0]] if preferred else ordered

    def _remember_sticky(self, sticky: Sticky, account_id: str, now: float) -> None:
        self._sticky[sticky.key] = (account_id, now + sticky.ttl)
        self._sticky.move_to_end(sticky.key)
        while len(self._sticky) > STICKY_KEPT:
            self._sticky.popitem(last=False)

    async def hold(self, candidate: Candidate) -> Lease | None:
        limit = candidate.max_concurrency
        if limit and self.in_flight(candidate.id) >= limit:
            return None
        self._in_flight[candidate.id] = self.in_flight(candidate.id) + 1
        return Lease(candidate.id, str(next(self._tokens)))

    def _refusal(self, candidate: Candidate, now: float) -> Refusal | None:
        status = self.status(candidate.id)
        if status.state is State.DISABLED:
            return Refusal(candidate.id, Blocker.DISABLED)
        if status.state is State.INVALID:
            return Refusal(candidate.id, Blocker.INVALID)
        if not status.usable(now):
            blocker = Blocker.EXHAUSTED if status.state is State.EXHAUSTED else Blocker.COOLING
            return Refusal(candidate.id, blocker, status.until)
        if status.needs_probe(now) and candidate.id in self._probes:
            return Refusal(candidate.id, Blocker.PROBING)
        if candidate.max_concurrency and self.in_flight(candidate.id) >= candidate.max_concurrency:
            return Refusal(candidate.id, Blocker.BUSY)
        if candidate.limit is not None:
            limiter = self._accounts.get(candidate.id, candidate.limit)
            if not limiter.has_capacity():
                return Refusal(candidate.id, Blocker.LIMITED, now + limiter.wait())
        return None

    def _take(self, candidate: Candidate, now: float) -> Lease:
        token = str(next(self._tokens))
        probe = self.status(candidate.id).needs_probe(now)
        if probe:
            self._probes[candidate.id] = token
        if candidate.limit is not None:
            limiter: Limiter = self._accounts.get(candidate.id, candidate.limit)
            limiter.take()
        self._in_flight[candidate.id] = self.in_flight(candidate.id) + 1
        return Lease(candidate.id, token, probe)

    async def release(self, lease: Lease) -> None:
        count = self._in_flight.get(lease.account_id, 0)
        if count > 0:
            self._in_flight[lease.account_id] = count - 1
        if lease.probe and self._probes.get(lease.account_id) == lease.token:
            del self._probes[lease.account_id]
        self._notify()

    async def wait_change(self, timeout: float) -> None:
        if timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # -- operator credentials and fleet locks -----------------------------------------------

    def credential(self, account_id: str) -> CredentialRecord | None:
        return self._credentials.get(account_id)

    async def set_credential(self, account_id: str, record: CredentialRecord | None) -> None:
        if record is None:
            self._credentials.pop(account_id, None)
        else:
            self._credentials[account_id] = record
        self._dirty()

    async def try_lock(self, name: str, ttl: float) -> bool:
        now = self.clock.monotonic()
        if self._locks.get(name, 0.0) > now:
            return False
        self._locks = {k: v for k, v in self._locks.items() if v > now}
        self._locks[name] = now + ttl
        return True

    # -- usage ------------------------------------------------------------------------------

    def record_usage(self, record: UsageRecord) -> None:
        """A few integer additions per request; the per-day tables are built when read."""
        key = (record.day, record.client, record.account, record.model)
        row = self._pending.get(key)
        if row is None:
            row = self._pending[key] = [0, 0, 0, 0, 0, 0]
        row[0] += 1
        row[2] += record.prompt_tokens
        row[3] += record.completion_tokens
        if not record.ok:
            row[1] += 1
        if record.estimated:
            row[4] += 1
        row[5] += record.usd_nanos
        minute = self._minutes.get(record.minute)
        if minute is None:
            minute = self._minutes[record.minute] = [0, 0]
            for old in sorted(self._minutes)[:-MINUTES_KEPT]:
                del self._minutes[old]
        minute[0] += 1
        if not record.ok:
            minute[1] += 1
        self._dirty()

    def _fold(self) -> UsageTable:
        """Move the tallies of recent requests into the per-day, per-dimension table."""
        for (day, client, account, model), counts in self._pending.items():
            table = self._usage.setdefault(day, {})
            for dimension, name in (("client", client), ("account", account), ("model", model)):
                if not name:
                    continue
                row = table.setdefault(dimension, {}).setdefault(name, dict.fromkeys(USAGE_FIELDS, 0))
                for field, count in zip(USAGE_FIELDS, counts, strict=True):
                    row[field] = row.get(field, 0) + count  # a snapshot from before a field existed
        self._pending.clear()
        return self._usage

    async def usage(self, first_day: str, last_day: str) -> UsageTable:
        return {d: v for d, v in self._fold().items() if first_day <= d <= last_day}

    async def minutes(self, since_minute: int) -> dict[int, tuple[int, int]]:
        return {m: (v[0], v[1]) for m, v in self._minutes.items() if m >= since_minute}
