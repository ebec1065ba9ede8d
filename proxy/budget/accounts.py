"""Account budgets: pace an account under the allowance its upstream gives it.

Each answered call counts against `accounts[].budget`; tokens are added when the
request's usage is known. At the limit the account becomes `exhausted` with reason
`budget` until the period resets, so admission skips it without calling the upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from proxy.budget.ledger import EXHAUSTED_REASON, Budgets, at_limit
from proxy.config.model import Budget
from proxy.outcome import Outcome, OutcomeKind
from proxy.pool.manager import Account, AccountManager
from proxy.state.ledgers import Counts


class AccountBudgets:
    def __init__(self, budgets: Budgets, manager: AccountManager) -> None:
        self.budgets = budgets
        self.manager = manager
        self._pending: set[asyncio.Task[Any]] = set()

    def after_call(self, account: Account, outcome: Outcome) -> Awaitable[None] | None:
        """Awaited by the manager after each answered call of an account with a budget, so
        the next admission already sees it (None, and no coroutine, for the others)."""
        budget = account.config.budget
        if budget is None or not outcome.ok:
            return None
        return self._count_call(account.id, budget)

    async def _count_call(self, account_id: str, budget: Budget) -> None:
        counts = await self.budgets.count("account", account_id, budget, {"requests": 1})
        await self._check(account_id, budget, counts)

    def charge(self, account_id: str, tokens: int, usd_nanos: int) -> None:
        account = self.manager.accounts.get(account_id)
        if account is None or account.config.budget is None:
            return
        budget = account.config.budget
        task = self.budgets.charge("account", account_id, budget, tokens, usd_nanos, request=False)
        if task is None:
            return
        check = asyncio.get_running_loop().create_task(self._after_charge(account_id, budget, task))
        self._pending.add(check)
        check.add_done_callback(self._pending.discard)

    async def _after_charge(self, account_id: str, budget: Budget, charged: asyncio.Task[Counts]) -> None:
        await self._check(account_id, budget, await charged)

    async def _check(self, account_id: str, budget: Budget, counts: Counts) -> None:
        if at_limit(budget, counts) is not None:
            resets_at = self.budgets.window(budget.period).resets_at
            spent = Outcome(OutcomeKind.QUOTA_EXHAUSTED, EXHAUSTED_REASON, reset_at=resets_at)
            await self.manager.report(account_id, spent)
