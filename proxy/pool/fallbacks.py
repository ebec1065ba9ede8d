"""Model fallbacks (`model_fallbacks`): when every account of the asked model is resting,
exhausted or busy past `queue_timeout`, the request goes to the next model listed.

Only those answers move a request to another model: a client error, a rate-limited client
or an upstream failure while accounts are still usable end it as they would without
fallbacks. The answer's `model` is the one that served; `Trace.fallback` names it for the
`x-pool-proxy-fallback` header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol, TypeVar

from proxy.core.admission import ClientQuota
from proxy.core.errors import GatewayError
from proxy.request import ChatRequest

if TYPE_CHECKING:
    from proxy.pool.manager import Account, AccountManager


class Trace(Protocol):
    """What fallbacks read and write of the dispatcher's trace (proxy/dispatch.py)."""

    attempts: list[tuple[str, str]]
    fallback: str | None


T = TypeVar("T")

# The pool's "nobody can take it now" answers; nothing else moves a request to another model.
RESTING = ("no_available_account", "insufficient_quota")

Plan = Callable[[ChatRequest], "tuple[Account, ...]"]
Attempt = Callable[[ChatRequest, "tuple[Account, ...]", ClientQuota | None], Awaitable[T]]


def as_model(request: ChatRequest, model: str) -> ChatRequest:
    """The same request for another model (its body says so too, for pass-through upstreams)."""
    return replace(
        request,
        body={**request.body, "model": model},
        model=model,
        requested_model=model,
        raw=b"",
        _cache={},
    )


def served_as(request: ChatRequest, trace: Trace) -> ChatRequest:
    """The request as the model that served it: a door names that model in its answer."""
    return as_model(request, trace.fallback) if trace.fallback else request


class Fallbacks:
    def __init__(self, table: dict[str, tuple[str, ...]], manager: AccountManager) -> None:
        self.table = table
        self.manager = manager

    def models_for(self, request: ChatRequest) -> tuple[str, ...]:
        return self.table.get(request.requested_model) or self.table.get(request.model) or ()

    async def run(
        self,
        request: ChatRequest,
        plan: Plan,
        attempt: Attempt[T],
        client: ClientQuota | None,
        trace: Trace,
        may_use: Callable[[str], bool] | None,
    ) -> T:
        """`attempt` on the asked model, then on each fallback while the pool says "resting"."""
        accounts = plan(request)  # a 4xx about the asked model is the client's answer
        try:
            return await attempt(request, accounts, client)
        except GatewayError as exc:
            if exc.code not in RESTING or not self.models_for(request):
                raise
            first = exc
        for model in self.models_for(request):
            if may_use is not None and not may_use(model):
                continue
            chat = as_model(request, model)
            try:
                accounts = plan(chat)
            except GatewayError:
                continue  # no account of it can take this request (model, images, tools)
            quota = replace(client, take=False) if client is not None and trace.attempts else client
            try:
                result = await attempt(chat, accounts, quota)
            except GatewayError as exc:
                if exc.code not in RESTING:
                    raise
                continue
            trace.fallback = model
            return result
        raise first
