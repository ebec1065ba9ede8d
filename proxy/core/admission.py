"""What admission is asked and answers: candidates, quotas, leases and refusals.

The pool asks (`pool/manager.py`), a state backend answers atomically (`state/`); both
speak these types, which import neither of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from proxy.config.model import RateLimit, Strategy

__all__ = [
    "RECOVERING",
    "Admission",
    "Ask",
    "Blocker",
    "Candidate",
    "ClientQuota",
    "ClientWindow",
    "Lease",
    "Refusal",
    "Sticky",
    "Strategy",
]


@dataclass(frozen=True, eq=False)  # identity hash: cheap as a cache key on the hot path
class Candidate:
    """An account as admission sees it: its id and limits."""

    id: str
    limit: RateLimit | None
    max_concurrency: int | None
    weight: int = 1


@dataclass(frozen=True)
class ClientQuota:
    """The client side of an admission. `take` is false on failover attempts."""

    name: str
    limit: RateLimit | None
    take: bool = True


@dataclass(frozen=True)
class Sticky:
    """An admission's conversation: try the account that served it last first, and
    remember the account chosen now for `ttl` seconds."""

    key: str
    ttl: float


@dataclass(slots=True)  # not frozen: made per request, and a frozen one sets each field through a call
class Ask:
    """One admission question: whose token, which accounts in what order, which to skip."""

    client: ClientQuota | None
    candidates: Sequence[Candidate]
    strategy: Strategy
    cursor_key: str  # the round-robin cursor; failover attempts (`exclude`) leave it alone
    now: float
    exclude: frozenset[str] = frozenset()
    sticky: Sticky | None = None


@dataclass(slots=True)  # not frozen: made per request, and a frozen one sets each field through a call
class ClientWindow:
    """What the `x-ratelimit-*-requests` headers report."""

    limit: int
    remaining: int
    reset: float  # seconds until the bucket is full again


@dataclass(slots=True)  # not frozen: made per request, and a frozen one sets each field through a call
class Lease:
    """The right to send one request to one account; released exactly once."""

    account_id: str
    token: str
    probe: bool = False


class Blocker(StrEnum):
    EXHAUSTED = "exhausted"
    COOLING = "cooling"
    INVALID = "invalid"
    DISABLED = "disabled"
    LIMITED = "rate_limited"
    BUSY = "busy"
    PROBING = "probing"


RECOVERING = (Blocker.COOLING, Blocker.LIMITED, Blocker.BUSY, Blocker.PROBING)


@dataclass(frozen=True)
class Refusal:
    """Why one candidate was passed over, and when it may be usable (epoch seconds)."""

    account_id: str
    blocker: Blocker
    ready_at: float | None = None


@dataclass(slots=True)  # not frozen: made per request, and a frozen one sets each field through a call
class Admission:
    lease: Lease | None
    client: ClientWindow | None = None
    client_wait: float | None = None  # set when the client's own bucket said no
    refusals: tuple[Refusal, ...] = ()
