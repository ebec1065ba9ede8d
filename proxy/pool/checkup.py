"""The account test: one minimal real request through one account, outside the pool's
choice, with its outcome applied like any other (admin Test button, `check --probe`,
scheduled health checks)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from proxy.outcome import OK, Outcome, OutcomeKind, UpstreamError, transient
from proxy.pool.manager import Account, AccountManager, Granted
from proxy.request import parse_chat

PROMPT = "Reply with the single word OK."


@dataclass(frozen=True)
class CheckResult:
    account: str
    outcome: str  # an OutcomeKind value, or "busy" when no lease came within queue_timeout
    reason: str
    latency_ms: int | None
    model: str | None
    state: str  # the account's state afterwards

    @property
    def ok(self) -> bool:
        return self.outcome == OutcomeKind.OK.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "outcome": self.outcome,
            "reason": self.reason,
            "latency_ms": self.latency_ms,
            "model": self.model,
            "state": self.state,
        }


def check_model(account: Account) -> str | None:
    """The model a test asks for: the first the account lists."""
    models = account.provider.listed_models()
    return models[0] if models else None


async def check_account(manager: AccountManager, account: Account, model: str | None = None) -> CheckResult:
    """Send one minimal request through `account`; a success revives it unless disabled."""
    model = model or check_model(account)
    if model is None:
        return _result(
            manager, account, "client_error", "the account lists no model to test with", None, None
        )
    lease = await _hold(manager, account)
    if lease is None:
        return _result(manager, account, "busy", "the account stayed at max_concurrency", None, model)
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 5}
    request = parse_chat(orjson.dumps(body), {})
    started = time.perf_counter()
    outcome: Outcome | None = None
    try:
        async with asyncio.timeout(manager.pool.first_byte_timeout):
            await account.provider.complete(request)
        outcome = OK
    except UpstreamError as exc:
        outcome = exc.outcome
    except TimeoutError:
        outcome = transient("no answer within first_byte_timeout", timeout=True).outcome
    finally:
        await manager.finish(Granted(lease, account, None), outcome)
    latency = int((time.perf_counter() - started) * 1000)
    if outcome.ok:
        await manager.revive(account.id, "account test succeeded")
    return _result(manager, account, outcome.kind.value, outcome.reason, latency, model)


async def _hold(manager: AccountManager, account: Account) -> Any:
    """A lease on the account within `queue_timeout`, its state notwithstanding."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + manager.pool.queue_timeout
    while True:
        lease = await manager.store.hold(account.candidate)
        if lease is not None or loop.time() >= deadline:
            return lease
        await manager.store.wait_change(min(0.5, deadline - loop.time()))


def _result(
    manager: AccountManager,
    account: Account,
    outcome: str,
    reason: str,
    latency: int | None,
    model: str | None,
) -> CheckResult:
    state = manager.store.status(account.id).state.value
    return CheckResult(account.id, outcome, reason, latency, model, state)
