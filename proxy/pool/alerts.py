"""What the pool tells the operator's webhook: an account's state changes, and a model
left without any usable account (`pool_empty`, once until one comes back)."""

from __future__ import annotations

from proxy.core.account import AccountStatus
from proxy.notify import Notifier
from proxy.pool.manager import AccountManager


class Alerts:
    def __init__(self, manager: AccountManager, notifier: Notifier) -> None:
        self.manager = manager
        self.notifier = notifier
        self.empty: set[str] = set()  # models already reported empty

    def on_state(self, account_id: str, old: AccountStatus, new: AccountStatus) -> None:
        account = self.manager.accounts.get(account_id)
        if account is None:
            return
        self.notifier.account_changed(account_id, account.config.provider, old, new)
        if not self.notifier.wants("pool_empty"):
            return
        now = self.manager.clock.now()
        emptied: list[str] = []
        accounts: set[str] = set()
        for model in account.provider.listed_models():
            serving = self.manager.serving(model)
            if any(self.manager.store.status(a.id).usable(now) for a in serving):
                self.empty.discard(model)
            elif model not in self.empty:
                self.empty.add(model)
                emptied.append(model)
                accounts.update(a.id for a in serving)
        if emptied:  # one message for every model this change emptied, not one per model
            self.notifier.pool_empty(emptied, sorted(accounts))
