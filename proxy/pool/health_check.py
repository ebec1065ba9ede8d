"""Scheduled account tests (`pool.health_check`): resting accounts are tested on a timer,
and a pass makes them `active` before their rest would end (an exhausted account whose
plan reset early, a logged-out session that works again).

Each account is tested at most once per period across the fleet: a replica tests it only
after taking the account's lock in the StateStore (SET NX in Redis), held for the period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from proxy.config.model import HealthCheckConfig
from proxy.pool.checkup import CheckResult, check_account
from proxy.pool.manager import Account, AccountManager

log = logging.getLogger("pool_proxy.pool")

LOCK_SHARE = 0.9  # of the period: a replica whose timer runs a little late still gets its turn


class HealthChecks:
    def __init__(self, manager: AccountManager, config: HealthCheckConfig) -> None:
        self.manager = manager
        self.config = config
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.config.every and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every())

    async def reconfigure(self, config: HealthCheckConfig) -> None:
        """A reload changed `pool.health_check`: the schedule restarts on the new period."""
        if config == self.config:
            return
        await self.close()
        self.config = config
        self.start()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _every(self) -> None:
        assert self.config.every
        while True:
            await asyncio.sleep(self.config.every)
            try:
                await self.run_once()
            except Exception:  # a failed round must not end the schedule
                log.exception("scheduled account checks failed")

    def due(self) -> list[Account]:
        """Accounts in one of the configured states."""
        states = set(self.config.states)
        return [
            a for a in self.manager.accounts.values() if self.manager.store.status(a.id).state.value in states
        ]

    async def run_once(self) -> list[CheckResult]:
        """Test every due account this replica can take the lock of; returns the results."""
        results = await asyncio.gather(*(self._check(a) for a in self.due()))
        return [r for r in results if r is not None]

    async def _check(self, account: Account) -> CheckResult | None:
        ttl = (self.config.every or 60.0) * LOCK_SHARE
        if not await self.manager.store.try_lock(f"health:{account.id}", ttl):
            return None  # another replica (or an earlier round) tests it this period
        result = await check_account(self.manager, account)
        log.info(
            "scheduled account check",
            extra={"account": account.id, "outcome": result.outcome, "state": result.state},
        )
        return result
