"""The AccountManager: which account serves a request, and what its outcome does to it.

It knows states, selection, leases and failover rules; it knows nothing of any
upstream's format (providers classify) or of HTTP (it raises `GatewayError`s that the
door of the request renders).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from proxy.clock import Clock
from proxy.config import AccountConfig, PoolConfig, mask
from proxy.core.account import AccountStatus, State
from proxy.core.admission import (
    Admission,
    Ask,
    Candidate,
    ClientQuota,
    ClientWindow,
    Lease,
    Sticky,
)
from proxy.core.errors import GatewayError
from proxy.errors import client_rate_limited
from proxy.godur import format_go_duration
from proxy.outcome import Outcome
from proxy.pool.status import apply_outcome, fingerprint
from proxy.pool.verdict import unavailable, verdict
from proxy.providers.base import Provider
from proxy.state.base import StateStore

log = logging.getLogger("pool_proxy.pool")

StateListener = Callable[[str, AccountStatus, AccountStatus], None]
WindowListener = Callable[[ClientWindow | None], None]
OutcomeListener = Callable[["Account", Outcome], None]


@dataclass(frozen=True, eq=False)  # identity hash: tuples of accounts key hot-path caches
class Account:
    config: AccountConfig
    provider: Provider

    @property
    def id(self) -> str:
        return self.config.id

    @functools.cached_property
    def candidate(self) -> Candidate:
        c = self.config
        return Candidate(c.id, c.rate_limit, c.max_concurrency, c.weight)


class NoMoreAccounts(Exception):
    """Every candidate was already tried by this request."""


@dataclass(slots=True)  # not frozen: made per request (a frozen one sets each field by a call)
class Granted:
    lease: Lease
    account: Account
    client: ClientWindow | None


class AccountManager:
    def __init__(self, pool: PoolConfig, store: StateStore, clock: Clock) -> None:
        self.pool = pool
        self.store = store
        self.clock = clock
        self.accounts: dict[str, Account] = {}
        self._serving: dict[str, tuple[Account, ...]] = {}
        self._candidates: dict[tuple[Account, ...], tuple[Candidate, ...]] = {}
        self.on_state: list[StateListener] = []
        self.on_outcome: list[OutcomeListener] = []
        # awaited when they return an awaitable (None: nothing to wait for, no coroutine made)
        self.after_outcome: list[Callable[[Account, Outcome], Awaitable[None] | None]] = []

    # -- the pool's membership ---------------------------------------------------------------

    async def set_accounts(self, accounts: Iterable[Account]) -> None:
        """Install accounts (at start and on reload); state of unchanged accounts survives."""
        self.accounts = {a.id: a for a in accounts}
        self.store.keep_only(set(self.accounts))
        self.models_changed()
        for account in self.accounts.values():
            await self._note_credential(account)

    async def _note_credential(self, account: Account) -> None:
        """A new credential for an `invalid` account makes it `active` again."""
        tag = fingerprint(account.config.secret)
        status = self.store.status(account.id)
        if status.credential == tag:
            return

        def change(old: AccountStatus) -> AccountStatus:
            if old.state is State.INVALID and old.credential:
                return AccountStatus(State.ACTIVE, changed_at=self.clock.now(), credential=tag)
            return replace(old, credential=tag)

        old, new = await self.store.update(account.id, change)
        self._changed(account.id, old, new)

    def models_changed(self) -> None:
        self._serving.clear()
        self._candidates.clear()

    def serving(self, model: str) -> tuple[Account, ...]:
        found = self._serving.get(model)
        if found is None:
            found = tuple(a for a in self.accounts.values() if a.provider.serves(model))
            if len(self._serving) > 4096:
                self._serving.clear()
            self._serving[model] = found
        return found

    # -- admission --------------------------------------------------------------------------

    async def acquire(
        self,
        cursor_key: str,
        accounts: tuple[Account, ...],
        client: ClientQuota | None,
        exclude: frozenset[str],
        on_window: WindowListener | None = None,
        sticky: Sticky | None = None,
    ) -> Granted:
        """A lease on the next usable account, waiting up to `queue_timeout` if all are busy.

        `on_window` hears the client's rate window when its own bucket refused, so the door
        can still send the `x-ratelimit-*`-style headers with the 429.
        """
        candidates = self._candidates.get(accounts)
        if candidates is None:
            if len(self._candidates) > 4096:
                self._candidates.clear()
            candidates = self._candidates[accounts] = tuple(a.candidate for a in accounts)
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # set when the first admission refused: most take a lease
        while True:
            now = self.clock.now()
            ask = Ask(client, candidates, self.pool.strategy, cursor_key, now, exclude, sticky)
            admission = await self.store.admit(ask)
            if admission.lease is not None:
                account = self.accounts.get(admission.lease.account_id)
                if account is None:  # removed by a reload between the choice and now
                    await self.store.release(admission.lease)
                    continue
                return Granted(admission.lease, account, admission.client)
            if admission.client_wait is not None:
                if on_window is not None:
                    on_window(admission.client)
                raise client_limited(client, admission)
            if not admission.refusals:
                raise NoMoreAccounts
            if deadline is None:
                deadline = loop.time() + self.pool.queue_timeout
            wait = verdict(admission.refusals, now, deadline - loop.time())
            if isinstance(wait, GatewayError):
                raise wait
            await self.store.wait_change(wait)

    def unavailable(self, accounts: tuple[Account, ...]) -> GatewayError | None:
        """Why none of `accounts` can serve now, as the client should hear it; None if one can.

        Used once every attempt has failed: "all resting, retry in 30 s" tells a client more
        than the last upstream error did.
        """
        statuses = ((a.id, self.store.status(a.id)) for a in accounts)
        return unavailable(statuses, self.clock.now())

    async def finish(self, granted: Granted, outcome: Outcome | None) -> None:
        """Apply the outcome of the call (if the call got that far) and release the lease."""
        try:
            if outcome is not None:
                for listener in self.on_outcome:
                    listener(granted.account, outcome)
                if not self._unchanged(granted.lease.account_id, outcome, granted.lease.probe):
                    await self.report(granted.lease.account_id, outcome, probe=granted.lease.probe)
                for hook in self.after_outcome:
                    pending = hook(granted.account, outcome)
                    if pending is not None:
                        await pending
        finally:
            await self.store.release(granted.lease)

    def _unchanged(self, account_id: str, outcome: Outcome, probe: bool) -> bool:
        """The hot path, checked before `report` (a coroutine per request otherwise)."""
        return outcome.ok and not probe and self.store.status(account_id).failures == 0

    async def report(self, account_id: str, outcome: Outcome, *, probe: bool = False) -> None:
        if self._unchanged(account_id, outcome, probe):
            return  # nothing to change
        now = self.clock.now()
        old, new = await self.store.update(
            account_id, lambda s: apply_outcome(s, outcome, self.pool, now, probe=probe)
        )
        self._changed(account_id, old, new)

    def _changed(self, account_id: str, old: AccountStatus, new: AccountStatus) -> None:
        if old.state is new.state and old.until == new.until:
            return
        level = logging.INFO if new.state is State.ACTIVE else logging.WARNING
        log.log(
            level,
            "account state changed",
            extra={
                "account": account_id,
                "from": old.state.value,
                "to": new.state.value,
                "until": new.until,
                "reason": new.reason,
            },
        )
        for listener in self.on_state:
            listener(account_id, old, new)

    # -- operator actions -------------------------------------------------------------------

    async def set_state(self, account_id: str, action: str) -> AccountStatus:
        """`enable`, `disable` or `reset` one account (admin API)."""
        now = self.clock.now()

        def change(old: AccountStatus) -> AccountStatus:
            if action == "disable":
                return AccountStatus(
                    State.DISABLED,
                    reason="disabled by operator",
                    changed_at=now,
                    credential=old.credential,
                )
            if action == "enable" and old.state is not State.DISABLED:
                return old
            return AccountStatus(State.ACTIVE, changed_at=now, credential=old.credential)

        old, new = await self.store.update(account_id, change)
        self._changed(account_id, old, new)
        return new

    async def revive(self, account_id: str, reason: str) -> AccountStatus:
        """An account test succeeded: the account is `active` again, unless switched off."""
        now = self.clock.now()

        def change(old: AccountStatus) -> AccountStatus:
            if old.state is State.DISABLED or (old.state is State.ACTIVE and not old.failures):
                return old
            return AccountStatus(State.ACTIVE, reason=reason, changed_at=now, credential=old.credential)

        old, new = await self.store.update(account_id, change)
        self._changed(account_id, old, new)
        return new

    def describe(self, account: Account) -> dict[str, Any]:
        """An account for the admin API: state, counters, never the credential itself."""
        status = self.store.status(account.id)
        now = self.clock.now()
        return {
            "id": account.id,
            "provider": account.config.provider,
            "state": status.state.value,
            "probe_due": status.needs_probe(now),
            "until": status.until,
            "seconds_left": max(0.0, status.until - now) if status.until else None,
            "reason": status.reason,
            "failures": status.failures,
            "in_flight": self.store.in_flight(account.id),
            "max_concurrency": account.config.max_concurrency,
            "weight": account.config.weight,
            "models": list(account.provider.listed_models()),
            "credential": mask(account.config.secret),
            "base_url": account.config.base_url,
            "changed_at": status.changed_at or None,
        }


def client_limited(client: ClientQuota | None, admission: Admission) -> GatewayError:
    wait = admission.client_wait or 1.0
    return client_rate_limited(client.name if client else "?", wait, format_go_duration(wait))
