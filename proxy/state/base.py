"""The `StateStore` interface: all state that replicas must agree on goes through it.

Two backends implement it: `memory` (one process, snapshot file) and `redis`
(several replicas). The manager decides *what* happens to an account; a store
only keeps the result and answers admission atomically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from proxy.core.account import AccountStatus
from proxy.core.admission import Admission, Ask, Candidate, Lease
from proxy.state.ledgers import ClientRegistry, Counters


@dataclass(slots=True)
class UsageRecord:
    """One finished request, for the per-day usage ledger (not frozen: one is made per
    request, and a frozen dataclass sets each of its ten fields through a call)."""

    day: str  # UTC, YYYY-MM-DD
    minute: int  # epoch minute, for the last-hour chart
    client: str
    account: str
    model: str
    ok: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    usd_nanos: int = 0  # estimated cost when `prices` are set (issue 12)


@dataclass(frozen=True)
class CredentialRecord:
    """An operator's replacement for an account's credential, sealed (never in clear here).

    `base` is the fingerprint of the config credential it replaced: once the config
    itself brings another credential, the record is stale and the config wins.
    """

    sealed: str
    base: str
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "base": self.base, "updated_at": self.updated_at}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CredentialRecord:
        return cls(str(raw["sealed"]), str(raw["base"]), float(raw["updated_at"]))


USAGE_FIELDS = ("requests", "failures", "prompt_tokens", "completion_tokens", "estimated", "usd_nanos")
UsageTable = dict[str, dict[str, dict[str, dict[str, int]]]]  # day -> dimension -> name -> field


class StateStore(ABC):
    """Shared pool state. Reads of status are local and cheap; writes are atomic."""

    degraded: bool = False  # true while a remote backend is unreachable
    on_credential: Callable[[str], None] | None = None  # another replica replaced a credential
    clients: ClientRegistry  # runtime client keys (proxy/clients/)
    budgets: Counters  # budget counters per client and account and period (proxy/budget/)

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect, load persisted state."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect."""

    @abstractmethod
    def status(self, account_id: str) -> AccountStatus:
        """The latest known status (never blocks)."""

    @abstractmethod
    def in_flight(self, account_id: str) -> int:
        """Requests currently holding a lease on the account."""

    @abstractmethod
    async def update(
        self, account_id: str, change: Callable[[AccountStatus], AccountStatus]
    ) -> tuple[AccountStatus, AccountStatus]:
        """Atomically replace the status by `change(old)`; returns (old, new)."""

    @abstractmethod
    async def admit(self, ask: Ask) -> Admission:
        """Take the client's token and one usable candidate's token and lease, or none.

        With `ask.sticky`, the conversation's last account goes first while it is usable,
        and the account taken becomes the conversation's account.
        """

    @abstractmethod
    async def hold(self, candidate: Candidate) -> Lease | None:
        """A lease on this one account whatever its state (an account test), or None while
        it is at `max_concurrency`."""

    @abstractmethod
    async def release(self, lease: Lease) -> None:
        """Give back a lease (and the probe slot it may hold)."""

    async def refresh(self, leases: Sequence[Lease]) -> None:  # noqa: B027 - optional hook
        """Keep long-running leases alive (backends whose leases expire)."""

    @abstractmethod
    def record_usage(self, record: UsageRecord) -> None:
        """Count one finished request (may be flushed later)."""

    @abstractmethod
    async def usage(self, first_day: str, last_day: str) -> UsageTable:
        """Counters for the days in [first_day, last_day]."""

    @abstractmethod
    async def minutes(self, since_minute: int) -> dict[int, tuple[int, int]]:
        """Requests and failures per epoch minute since `since_minute` (dashboard chart)."""

    @abstractmethod
    async def wait_change(self, timeout: float) -> None:
        """Return when a lease is released or a status changes, or after `timeout`."""

    def keep_only(self, account_ids: set[str]) -> None:  # noqa: B027 - optional hook
        """Forget per-account state of accounts that were removed by a reload."""

    @abstractmethod
    def credential(self, account_id: str) -> CredentialRecord | None:
        """The operator's replacement credential for the account, if any (never blocks)."""

    @abstractmethod
    async def set_credential(self, account_id: str, record: CredentialRecord | None) -> None:
        """Keep (or, with None, drop) the account's replacement credential, for every replica."""

    @abstractmethod
    async def try_lock(self, name: str, ttl: float) -> bool:
        """Take `name` for `ttl` seconds unless someone (any replica) holds it."""
