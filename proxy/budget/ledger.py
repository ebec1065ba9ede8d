"""Client and account budgets against the store's counters (issue 12).

A client's requests are taken atomically with the check (`admit`), before anything
reaches the pool, and given back if the request is then refused or fails; so a
request counts only when it was answered, and replicas on one Redis never let a client
past its requests budget. Tokens and cost are known only after the answer: they are
charged then (`charge`), so one request may overshoot a tokens or usd budget by its
own size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from proxy.budget.period import Window, describe_reset, window
from proxy.budget.prices import NANOS, Prices
from proxy.clock import Clock
from proxy.config.model import Budget, Period
from proxy.state.ledgers import Counters, Counts

log = logging.getLogger("pool_proxy.budget")

SEEN_FOR = 400 * 86400.0  # seconds a client's last use is remembered
TOUCH_EVERY = 5.0  # seconds: last use is written at most this often per subject and replica
FLUSH_EVERY = 1.0  # seconds: counts of subjects without a budget are written in batches
UNITS = {"requests": "requests", "tokens": "tokens", "usd": "USD"}
EXHAUSTED_REASON = "budget"  # an account at its budget rests as `exhausted` with this reason
ALERTED = "alerted"  # counter field: how many replicas found the budget spent this period


def limits(budget: Budget) -> dict[str, int]:
    """The budget as counter fields (USD in nano-dollars)."""
    found = budget.limits()
    out = {k: int(v) for k, v in found.items() if k != "usd"}
    if "usd" in found:
        out["usd_nanos"] = round(found["usd"] * NANOS)
    return out


def at_limit(budget: Budget, counts: Counts) -> str | None:
    """The first measure (requests, tokens, usd) whose count has reached its limit."""
    for field, limit in limits(budget).items():
        if counts.get(field, 0) >= limit:
            return "usd" if field == "usd_nanos" else field
    return None


def used(counts: Counts) -> dict[str, float]:
    return {
        "requests": counts.get("requests", 0),
        "tokens": counts.get("tokens", 0),
        "usd": counts.get("usd_nanos", 0) / NANOS,
    }


@dataclass(frozen=True)
class Spent:
    """A budget at its limit: what the 429 says, and how long until it resets."""

    measure: str  # requests | tokens | usd
    limit: float
    period: Period
    resets_at: float
    reset_text: str
    retry_after: float

    def message(self, who: str) -> str:
        unit = UNITS[self.measure]
        amount = f"{self.limit:g} {unit[:-1] if self.limit == 1 and unit.endswith('s') else unit}"
        return (
            f"{who} has used its budget of {amount} per {self.period}; "
            f"it resets at {self.reset_text} (in {_span(self.retry_after)})."
        )


@dataclass(frozen=True)
class Standing:
    """Where a subject stands in its current period (for /v1/me and the admin list)."""

    period: Period
    resets_at: float
    used: dict[str, float]
    last_used_at: float | None

    def to_dict(self, budget: Budget | None) -> dict[str, Any]:
        return {
            "budget": budget_dict(budget),
            "period": self.period,
            "used": self.used,
            "resets_at": self.resets_at,
            "last_used_at": self.last_used_at,
        }


class BudgetListener(Protocol):
    """Who hears that a budget was used up (the alert webhook, proxy/notify.py)."""

    def wants(self, event: str) -> bool: ...

    def budget_spent(
        self, subject: str, name: str, budget: Budget, spent: Spent, used: dict[str, float]
    ) -> None: ...


class Tally:
    """What one counter of a subject without a budget gets at the next flush."""

    __slots__ = ("expires_at", "requests", "tokens", "usd_nanos")

    def __init__(self, expires_at: float) -> None:
        self.expires_at = expires_at
        self.tokens = self.requests = self.usd_nanos = 0

    def amounts(self) -> Counts:
        found = {"tokens": self.tokens, "requests": self.requests, "usd_nanos": self.usd_nanos}
        return {field: amount for field, amount in found.items() if amount}


class Budgets:
    def __init__(self, counters: Counters, clock: Clock, timezone: str, prices: Prices) -> None:
        self.counters = counters
        self.clock = clock
        self.zone = ZoneInfo(timezone)
        self.prices = prices
        self.listener: BudgetListener | None = None
        self._told: set[str] = set()  # counter keys this replica has announced (or seen announced)
        self._pending: set[asyncio.Task[Any]] = set()
        self._touched: dict[str, float] = {}
        self._batch: dict[str, Tally] = {}  # counter key -> what to add to it
        self._seen: dict[str, tuple[float, int]] = {}  # `seen` key -> (expires_at, last_used)
        self._flusher: asyncio.Task[None] | None = None
        self._windows: dict[Period, Window] = {}

    def set_timezone(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)

    def window(self, period: Period) -> Window:
        """The current period, worked out again only when it ends (every finished request
        asks: the time-zone arithmetic cost ~10k CPU instructions a request)."""
        now = self.clock.now()
        w = self._windows.get(period)
        if w is None or not w.starts_at <= now < w.resets_at:
            w = self._windows[period] = window(now, period, self.zone)
        return w

    def key(self, subject: str, name: str, period: Period) -> tuple[str, Window]:
        w = self.window(period)
        return f"{subject}:{name}:{w.label}", w

    async def admit(self, subject: str, name: str, budget: Budget | None) -> Spent | None:
        """Take one request from the budget, or say which limit is reached (nothing taken)."""
        if budget is None:
            return None
        if self._pending:  # this replica's charges land before it decides
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        key, w = self.key(subject, name, budget.period)
        refused = await self.counters.admit(key, limits(budget), {"requests": 1}, w.resets_at)
        if refused is None:
            return None
        spent = self._spent("usd" if refused == "usd_nanos" else refused, budget, w)
        await self._announce(subject, name, budget, spent, key)  # if no charge announced it yet
        return spent

    def _spent(self, measure: str, budget: Budget, w: Window) -> Spent:
        return Spent(
            measure,
            budget.limits()[measure],
            budget.period,
            w.resets_at,
            describe_reset(w.resets_at, self.zone),
            max(1.0, w.resets_at - self.clock.now()),
        )

    async def count(self, subject: str, name: str, budget: Budget, amounts: Mapping[str, int]) -> Counts:
        """Add to a subject's counter for this period; a count that reaches a limit is
        announced to the listener, once per period across replicas."""
        key, w = self.key(subject, name, budget.period)
        counts = await self.counters.add(key, amounts, w.resets_at)
        measure = at_limit(budget, counts)
        if measure is not None:
            await self._announce(subject, name, budget, self._spent(measure, budget, w), key)
        return counts

    async def _announce(self, subject: str, name: str, budget: Budget, spent: Spent, key: str) -> None:
        """Tell the listener, unless this period's crossing was told already: the counter's
        `alerted` field is incremented atomically, so only the first replica sees 1."""
        listener = self.listener
        if listener is None or key in self._told or not listener.wants("budget"):
            return
        if len(self._told) > 10_000:
            self._told.clear()
        self._told.add(key)
        try:
            counts = await self.counters.add(key, {ALERTED: 1}, spent.resets_at)
        except Exception as exc:  # an alert must never fail the request that found it
            log.warning("budget alert not sent", extra={"error": repr(exc)})
            return
        if counts.get(ALERTED) == 1:
            listener.budget_spent(subject, name, budget, spent, used(counts))

    async def give_back(self, subject: str, name: str, budget: Budget | None) -> None:
        """A request that was taken but then refused or failed does not count."""
        if budget is not None:
            key, w = self.key(subject, name, budget.period)
            await self.counters.add(key, {"requests": -1}, w.resets_at)

    def price(self, model: str, prompt: int, completion: int) -> int:
        """An answer's cost in nano-dollars (0 when no price is configured)."""
        return self.prices.nanos(model, prompt, completion) if self.prices.prices else 0

    def charge(
        self, subject: str, name: str, budget: Budget | None, tokens: int, usd_nanos: int, *, request: bool
    ) -> asyncio.Task[Counts] | None:
        """Count an answer's tokens and cost (`price`), and the request itself when `request`
        (a budget's requests were already taken by `admit`). Runs in the background: at
        once for a budget (the next admission waits for it), else in the next batch."""
        if budget is None:
            w = self.window("day")
            key = f"{subject}:{name}:{w.label}"
            tally = self._batch.get(key)
            if tally is None:
                tally = self._batch[key] = Tally(w.resets_at)
                self._flush_soon()
            tally.tokens += tokens
            tally.requests += request
            tally.usd_nanos += usd_nanos
            return None
        amounts = {"tokens": tokens}
        if request:
            amounts["requests"] = 1
        if usd_nanos:
            amounts["usd_nanos"] = usd_nanos
        if not any(amounts.values()):
            return None
        task = asyncio.get_running_loop().create_task(self.count(subject, name, budget, amounts))
        self._pending.add(task)
        task.add_done_callback(self._done)
        return task

    def _flush_soon(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_every())

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self.flush()

    async def flush(self) -> None:
        batch, self._batch = self._batch, {}
        seen, self._seen = self._seen, {}
        writes = [(key, tally.amounts(), tally.expires_at) for key, tally in batch.items()]
        writes += [(key, {"last_used": last}, expires_at) for key, (expires_at, last) in seen.items()]
        for key, amounts, expires_at in writes:
            if not amounts:
                continue
            try:
                await self.counters.add(key, amounts, expires_at)
            except Exception as exc:  # a store outage is the store's to report; keep serving
                log.warning("budget counts not written", extra={"error": repr(exc)})

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await self.settle()

    def touch(self, subject: str, name: str) -> None:
        """Remember the subject's last use, written at most every TOUCH_EVERY seconds."""
        now = self.clock.now()
        key = f"{subject}:{name}:seen"
        if now - self._touched.get(key, -TOUCH_EVERY) < TOUCH_EVERY:
            return
        if len(self._touched) > 10_000:
            self._touched.clear()
        self._touched[key] = now
        entry = self._seen.get(key)
        self._seen[key] = (now + SEEN_FOR, int(now) if entry is None else max(entry[1], int(now)))
        self._flush_soon()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("budget charge failed", extra={"error": repr(task.exception())})

    async def settle(self) -> None:
        """Write this replica's batch and wait for its charges in flight."""
        await self.flush()
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def standing(self, subject: str, name: str, budget: Budget | None) -> Standing:
        await self.settle()
        period: Period = budget.period if budget else "day"
        key, w = self.key(subject, name, period)
        counts, seen = await self.counters.read([key, f"{subject}:{name}:seen"])
        last = seen.get("last_used")
        return Standing(period, w.resets_at, used(counts), float(last) if last else None)

    async def standings(self, subject: str, budgets: Mapping[str, Budget | None]) -> dict[str, Standing]:
        """Many subjects at once (one round trip on Redis)."""
        await self.settle()
        keys, windows = [], []
        for name, budget in budgets.items():
            period: Period = budget.period if budget else "day"
            key, w = self.key(subject, name, period)
            keys += [key, f"{subject}:{name}:seen"]
            windows.append((name, period, w))
        rows = await self.counters.read(keys)
        out = {}
        for i, (name, period, w) in enumerate(windows):
            last = rows[2 * i + 1].get("last_used")
            out[name] = Standing(period, w.resets_at, used(rows[2 * i]), float(last) if last else None)
        return out


def budget_dict(budget: Budget | None) -> dict[str, Any] | None:
    return {"period": budget.period, **budget.limits()} if budget else None


def _span(seconds: float) -> str:
    hours, rest = divmod(int(seconds + 0.999), 3600)
    minutes = rest // 60
    if hours >= 48:
        return f"{hours // 24} days"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{max(1, minutes)} min" if rest >= 60 else f"{rest} s"
