"""Two shared tables for team keys (issue 12): runtime client records and budget counters.

The store keeps them as plain data; what a record or a counter means is decided in
`proxy/clients/` and `proxy/budget/`. Each backend provides both (memory: in this
process and its snapshot; redis: `proxy/state/redis/ledgers.py`).

- A client record is a JSON-able dict with at least `name` and `digest` (the SHA-256 of
  its key, hex); never the key itself.
- A counter is a small mapping of integer fields (`requests`, `tokens`, `usd_nanos`,
  `last_used`) under a key that names its subject and period; it expires with the period.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

Record = dict[str, Any]
Counts = dict[str, int]


class Unreachable(Exception):
    """A change could not be written (the shared backend is away); nothing was changed."""


class ClientRegistry(ABC):
    @abstractmethod
    async def all(self) -> dict[str, Record]:
        """Every runtime client, by name."""

    @abstractmethod
    async def find(self, digest: str) -> Record | None:
        """The client whose key has this digest."""

    @abstractmethod
    async def put(self, record: Record, *, new: bool = False) -> bool:
        """Store (or replace) a record by its name; its old key stops matching at once.
        With `new`, only when the name is free; returns False if it was taken."""

    @abstractmethod
    async def remove(self, name: str) -> bool:
        """Forget a client and its key; False when there was none."""


class Counters(ABC):
    @abstractmethod
    async def admit(
        self, key: str, limits: Mapping[str, int], take: Mapping[str, int], expires_at: float
    ) -> str | None:
        """If every field is under its limit, add `take` and return None (one atomic step);
        else change nothing and return the first field at its limit."""

    @abstractmethod
    async def add(self, key: str, amounts: Mapping[str, int], expires_at: float) -> Counts:
        """Add (or, negative, give back) amounts; returns the fields after the change."""

    @abstractmethod
    async def read(self, keys: list[str]) -> list[Counts]:
        """The fields of each key (empty when the key has none or has expired)."""


class MemoryClients(ClientRegistry):
    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.records: dict[str, Record] = {}
        self._by_digest: dict[str, str] = {}
        self._on_change = on_change

    def load(self, raw: object) -> None:
        if not isinstance(raw, dict):
            raise ValueError("clients is not a mapping")
        self.records = {str(k): dict(v) for k, v in raw.items() if isinstance(v, dict)}
        self._by_digest = {str(r.get("digest")): name for name, r in self.records.items()}

    async def all(self) -> dict[str, Record]:
        return {name: dict(r) for name, r in self.records.items()}

    async def find(self, digest: str) -> Record | None:
        name = self._by_digest.get(digest)
        return dict(self.records[name]) if name is not None else None

    async def put(self, record: Record, *, new: bool = False) -> bool:
        name = str(record["name"])
        old = self.records.get(name)
        if old is not None:
            if new:
                return False
            self._by_digest.pop(str(old.get("digest")), None)
        self.records[name] = dict(record)
        self._by_digest[str(record["digest"])] = name
        self._on_change()
        return True

    async def remove(self, name: str) -> bool:
        old = self.records.pop(name, None)
        if old is None:
            return False
        self._by_digest.pop(str(old.get("digest")), None)
        self._on_change()
        return True


class MemoryCounters(Counters):
    def __init__(self, now: Callable[[], float], on_change: Callable[[], None] = lambda: None) -> None:
        self.now = now
        self.table: dict[str, tuple[float, Counts]] = {}  # key -> (expires_at, fields)
        self._on_change = on_change

    def load(self, raw: object) -> None:
        if not isinstance(raw, dict):
            raise ValueError("budgets is not a mapping")
        self.table = {
            str(k): (float(v["expires_at"]), {f: int(n) for f, n in v["counts"].items()})
            for k, v in raw.items()
        }

    def dump(self) -> dict[str, Any]:
        now = self.now()
        return {k: {"expires_at": e, "counts": c} for k, (e, c) in self.table.items() if e > now}

    def _get(self, key: str) -> Counts:
        entry = self.table.get(key)
        if entry is None or entry[0] <= self.now():
            return {}
        return entry[1]

    async def admit(
        self, key: str, limits: Mapping[str, int], take: Mapping[str, int], expires_at: float
    ) -> str | None:
        counts = self._get(key)
        for field, limit in limits.items():
            if counts.get(field, 0) >= limit:
                return field
        await self.add(key, take, expires_at)
        return None

    async def add(self, key: str, amounts: Mapping[str, int], expires_at: float) -> Counts:
        counts = dict(self._get(key))
        for field, amount in amounts.items():
            if field == "last_used":
                counts[field] = max(counts.get(field, 0), amount)
            else:
                counts[field] = counts.get(field, 0) + amount
        self.table[key] = (expires_at, counts)
        if len(self.table) > 10_000:
            self.prune()
        self._on_change()
        return dict(counts)

    async def read(self, keys: list[str]) -> list[Counts]:
        return [dict(self._get(k)) for k in keys]

    def prune(self) -> None:
        now = self.now()
        self.table = {k: v for k, v in self.table.items() if v[0] > now}
