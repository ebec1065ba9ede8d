"""Alerts: a JSON POST to the operator's webhook when an account changes state or a model
has no usable account left (issue 13).

Events queue up and one background task delivers them, retrying with backoff, so a
request never waits on a webhook. The body holds names, states and reasons, never a
credential (every text passes the log scrubber), plus a `text` line that Slack- and
Discord-compatible incoming webhooks show as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from proxy.budget.ledger import EXHAUSTED_REASON, UNITS, Spent, budget_dict
from proxy.clock import Clock
from proxy.config.model import Budget, NotifyConfig
from proxy.core.account import AccountStatus, State
from proxy.logs import Scrubber

log = logging.getLogger("pool_proxy.notify")

QUEUE_MAX = 1000  # events waiting for delivery; beyond this they are dropped (and counted)
ATTEMPTS = 4
BACKOFF = 1.0  # seconds before the first retry, doubled after each
POST_TIMEOUT = 10.0

STATE_EVENTS = {
    State.INVALID: "invalid",
    State.EXHAUSTED: "exhausted",
    State.COOLING: "cooling",
    State.DISABLED: "disabled",
    State.ACTIVE: "recovered",
}
Counted = Callable[[str], None]  # result: sent | failed | dropped


def _when(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else None


class Notifier:
    def __init__(
        self, config: NotifyConfig, clock: Clock, scrubber: Scrubber, count: Counted | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.scrubber = scrubber
        self.count = count or (lambda _result: None)
        self.host = socket.gethostname()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_MAX)
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.webhook)

    def wants(self, event: str) -> bool:
        return self.enabled and event in self.config.events

    def start(self, session: aiohttp.ClientSession) -> None:
        if self.enabled and self._worker is None:
            self._session = session
            self._worker = asyncio.get_running_loop().create_task(self._deliver_all())

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    # -- what happened ------------------------------------------------------------------------

    def account_changed(self, account_id: str, provider: str, old: AccountStatus, new: AccountStatus) -> None:
        if old.state is new.state:
            return
        event = STATE_EVENTS[new.state]
        if event == "recovered" and old.state is State.COOLING and not self.wants("cooling"):
            return  # the end of a short rate-limit rest nobody was told about
        if event == "exhausted" and new.reason == EXHAUSTED_REASON and self.wants("budget"):
            return  # the `budget` event says it, with the budget's numbers
        if event == "recovered":
            line = f"account {account_id} ({provider}) is active again (was {old.state.value})"
        else:
            until = f" until {_when(new.until)}" if new.until else ""
            line = f"account {account_id} ({provider}) is {new.state.value}{until}: {new.reason or '-'}"
        self.send(
            event,
            line,
            account=account_id,
            provider=provider,
            state=new.state.value,
            previous=old.state.value,
            reason=new.reason,
            until=new.until,
        )

    def pool_empty(self, models: list[str], accounts: list[str]) -> None:
        shown = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
        line = f"no usable account left for {shown} (accounts: {', '.join(accounts)})"
        self.send("pool_empty", line, model=models[0], models=models, accounts=accounts)

    def budget_spent(
        self, subject: str, name: str, budget: Budget, spent: Spent, used: dict[str, float]
    ) -> None:
        """A client's or an account's budget was used up (told once per period)."""
        who = f"Client '{name}'" if subject == "client" else f"Account '{name}'"
        amount = used[spent.measure]
        line = f"{spent.message(who)} Used: {amount:g} {UNITS[spent.measure]}."
        self.send(
            "budget",
            line,
            subject=subject,
            **{subject: name},
            measure=spent.measure,
            limit=spent.limit,
            spent=amount,
            period=spent.period,
            resets_at=spent.resets_at,
            budget=budget_dict(budget),
            used=used,
        )

    def send(self, event: str, line: str, **fields: Any) -> None:
        """Queue one event (never blocks; a full queue drops it)."""
        if not self.wants(event):
            return
        clean = self.scrubber.clean
        text = clean(f"pool-proxy@{self.host}: {line}")
        body = {
            "event": event,
            **{k: clean(v) if isinstance(v, str) else v for k, v in fields.items()},
            "gateway": self.host,
            "at": self.clock.now(),
            "text": text,  # Slack (and Discord's /slack endpoint) show this line
            "content": text,  # Discord's own webhook format
        }
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            self.count("dropped")

    # -- delivery -----------------------------------------------------------------------------

    async def _deliver_all(self) -> None:
        while True:
            body = await self._queue.get()
            await self._deliver(body)

    async def _deliver(self, body: dict[str, Any]) -> None:
        assert self._session is not None and self.config.webhook
        delay, problem = BACKOFF, ""
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
            try:
                async with self._session.post(
                    self.config.webhook, json=body, timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT)
                ) as resp:
                    if resp.status < 300:
                        self.count("sent")
                        return
                    problem = f"HTTP {resp.status}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                problem = type(exc).__name__
        self.count("failed")
        log.warning(  # once per event, not per attempt; the URL (a credential) is scrubbed
            "alert webhook failed",
            extra={"event": body["event"], "attempts": ATTEMPTS, "error": problem},
        )
