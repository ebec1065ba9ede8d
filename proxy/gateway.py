"""The composition root: one `Gateway` holds the config and every long-lived part."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from proxy.budget.accounts import AccountBudgets
from proxy.budget.ledger import Budgets
from proxy.budget.prices import Prices
from proxy.clients import Client, ClientDirectory
from proxy.clock import Clock
from proxy.config import Config, ConfigError, PoolConfig, load_config
from proxy.config.aliases import resolve_alias
from proxy.dispatch import Dispatcher
from proxy.logs import Scrubber, scrub_log_handlers, unscrub_log_handlers
from proxy.metrics import Metrics
from proxy.notify import Notifier
from proxy.pool.alerts import Alerts
from proxy.pool.credentials import Overrides
from proxy.pool.health_check import HealthChecks
from proxy.pool.manager import Account, AccountManager
from proxy.providers import ProviderContext, build_provider
from proxy.providers.base import new_session
from proxy.state.base import StateStore, UsageRecord
from proxy.state.memory import MemoryStore

log = logging.getLogger("pool_proxy")

__all__ = ["Client", "Gateway", "build_store"]  # Client: doors import it from here


def build_store(config: Config, clock: Clock, metrics: Metrics | None) -> StateStore:
    if config.state.backend == "redis":
        from proxy.state.redis import RedisStore

        on_error = metrics.store_errors.labels("redis_call").inc if metrics is not None else None
        store: StateStore = RedisStore(config.state, clock, on_error=on_error)
        return store
    return MemoryStore(config.state.path, clock)


class Gateway:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.metrics = Metrics() if config.metrics.enabled else None
        self.store = build_store(config, self.clock, self.metrics)
        self.manager = AccountManager(config.pool, self.store, self.clock)
        self.dispatcher = Dispatcher(self.manager, config.model_fallbacks)
        self.clients = ClientDirectory(config.clients, self.store.clients, self.clock, config.source)
        self.budgets = Budgets(
            self.store.budgets, self.clock, config.pool.budget_timezone, Prices(config.prices)
        )
        self.account_budgets = AccountBudgets(self.budgets, self.manager)
        self.manager.after_outcome.append(self.account_budgets.after_call)
        self.scrubber = Scrubber(config.secrets())  # this gateway's secrets, masked in logs and admin
        self.overrides = Overrides(self.store, self.clock, config.admin_key)
        metrics = self.metrics
        count = (lambda result: metrics.webhook_events.labels(result).inc()) if metrics else None
        self.notifier = Notifier(config.notify, self.clock, self.scrubber, count)
        self.budgets.listener = self.notifier
        self.manager.on_state.append(Alerts(self.manager, self.notifier).on_state)
        self.health = HealthChecks(self.manager, config.pool.health_check)
        self.store.on_credential = self._credential_changed
        self._installing = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self.ctx: ProviderContext | None = None
        self.started_at = time.time()
        self._minute, self._day = -1, ""

    async def start(self) -> None:
        scrub_log_handlers(self.scrubber)
        self.ctx = ProviderContext(
            session=new_session(),
            clock=self.clock,
            pool=self.config.pool,
            allow_private_fetch=self.config.server.allow_private_fetch,
        )
        await self.store.start()
        self.notifier.start(self.ctx.session)
        await self._install(self.config)
        self.health.start()
        if self.metrics is not None:
            metrics = self.metrics
            metrics.watch_accounts(self._account_states)
            self.manager.on_outcome.append(
                lambda account, outcome: metrics.attempt(account.id, account.config.provider, outcome.kind)
            )

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.health.close()
        await self.notifier.close()
        await self.budgets.close()
        await self.store.close()
        if self.ctx is not None:
            await self.ctx.session.close()
            await self.ctx.close()
        unscrub_log_handlers(self.scrubber)

    async def _install(self, config: Config) -> None:
        async with self._installing:  # a reload and a replica's credential change may overlap
            await self._install_now(config)

    async def _install_now(self, config: Config) -> None:
        assert self.ctx is not None
        await self.overrides.drop_stale(config.accounts)
        old = self.manager.accounts
        accounts = []
        for configured in config.accounts:
            account_config = self.overrides.effective(configured)
            kept = old.get(account_config.id)
            if kept is not None and kept.config == account_config:
                accounts.append(kept)  # unchanged: keep its provider (and fetched models)
                continue
            provider = build_provider(account_config, self.ctx)
            await provider.start()
            accounts.append(Account(account_config, provider))
        await self.manager.set_accounts(accounts)
        self.scrubber.set([*config.secrets(), *self.overrides.secrets(config.accounts)])
        if self.metrics is not None:
            models = {m for a in accounts for m in a.provider.listed_models()}
            self.metrics.configure(models | set(config.model_aliases), [c.name for c in config.clients])

    async def reload(self) -> dict[str, object]:
        """Re-read accounts, clients and aliases from the config file; keep state and streams."""
        source = self.config.source
        if source in ("environment", "demo", "defaults", "inline"):
            raise ConfigError([f"nothing to reload: the gateway was started from {source}"])
        fresh = load_config(Path(source))
        before = set(self.manager.accounts)
        self.config = _with_live_parts(self.config, fresh)
        await self._apply_pool(self.config.pool)
        self.overrides = Overrides(self.store, self.clock, self.config.admin_key)
        self.notifier.config = self.config.notify
        self.dispatcher.fallbacks.table = self.config.model_fallbacks
        if self.ctx is not None:
            self.notifier.start(self.ctx.session)
        self.clients = ClientDirectory(self.config.clients, self.store.clients, self.clock, source)
        self.budgets.prices = Prices(self.config.prices)
        await self._install(self.config)
        after = set(self.manager.accounts)
        log.warning(
            "configuration reloaded",
            extra={"added": sorted(after - before), "removed": sorted(before - after)},
        )
        return {
            "accounts": len(after),
            "added": sorted(after - before),
            "removed": sorted(before - after),
        }

    async def _apply_pool(self, pool: PoolConfig) -> None:
        """The `pool` section, read at each use from these three holders, and the schedule."""
        self.manager.pool = pool
        if self.ctx is not None:
            self.ctx.pool = pool  # providers' timeouts
        self.budgets.set_timezone(pool.budget_timezone)
        await self.health.reconfigure(pool.health_check)

    async def replace_credential(self, account_id: str, body: dict[str, object]) -> None:
        """An operator pasted a new credential: seal it, share it, and use it here now."""
        configured = next(a for a in self.config.accounts if a.id == account_id)
        await self.overrides.put(configured, body)
        await self._install(self.config)

    def _credential_changed(self, account_id: str) -> None:
        """Another replica replaced a credential: pick it up without waiting for a request."""
        if self.ctx is None:
            return  # not started yet: start() installs with what the store holds
        task = asyncio.get_running_loop().create_task(self._install(self.config))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _account_states(self) -> list[tuple[str, str, str]]:
        return [
            (a.id, a.config.provider, self.store.status(a.id).state.value)
            for a in self.manager.accounts.values()
        ]

    def ready(self) -> bool:
        now = self.clock.now()
        return any(self.store.status(a).usable(now) for a in self.manager.accounts)

    def record(
        self,
        client: Client,
        account: str | None,
        model: str,
        ok: bool,
        prompt: int = 0,
        completion: int = 0,
        estimated: bool = False,
        fallback: str | None = None,
    ) -> None:
        """A finished request: the usage ledger, and the budgets of its client and account.

        Usage rows keep the name the client asked for; cost is the served model's (the
        `fallback` that answered, an alias's target), or an alias (Claude Code's `claude-*`)
        would cost nothing and slip past a usd budget."""
        minute = int(self.clock.now() // 60)
        if minute != self._minute:  # the day's name is formatted once a minute, not per request
            self._minute, self._day = minute, time.strftime("%Y-%m-%d", time.gmtime(minute * 60))
        budgets, name = self.budgets, client.name
        served = resolve_alias(self.config.model_aliases, fallback or model) if budgets.prices else model
        usd_nanos = budgets.price(served, prompt, completion)
        self.store.record_usage(
            UsageRecord(
                self._day, minute, name, account or "", model, ok, prompt, completion, estimated, usd_nanos
            )
        )
        budget = client.budget  # the request's client: its budget admitted it (http/callers.py)
        budgets.charge("client", name, budget, prompt + completion, usd_nanos, request=ok and budget is None)
        budgets.touch("client", name)
        if account:
            self.account_budgets.charge(account, prompt + completion, usd_nanos)


def _with_live_parts(current: Config, fresh: Config) -> Config:
    """What a reload may change while serving: accounts, clients, aliases, fallbacks, the
    `pool` section, alerts, prices. `server`, `state`, `metrics` and `logging` need a restart."""
    from dataclasses import replace

    return replace(
        current,
        accounts=fresh.accounts,
        clients=fresh.clients or current.clients,
        model_aliases=fresh.model_aliases,
        model_fallbacks=fresh.model_fallbacks,
        pool=fresh.pool,
        notify=fresh.notify,
        admin_key=fresh.admin_key or current.admin_key,
        prices=fresh.prices,
    )
