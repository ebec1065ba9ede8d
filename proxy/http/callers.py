"""Who is calling /v1, decided before the handler: the key's client, and its budget.

Runtime keys live in the `StateStore` (a store call), and a budget is taken atomically
before anything reaches the pool, so this step is async and runs as a middleware; the
handler's `authenticate()` then reads its verdict. A request taken from a budget that
ends in an error gives it back: only answered requests count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from proxy.clients import Client
from proxy.core.errors import GatewayError
from proxy.errors import budget_spent, invalid_api_key
from proxy.http.keys import GATEWAY

log = logging.getLogger("pool_proxy.budget")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Caller:
    """This step's verdict, set on every request (a lookup that misses costs an exception):
    the key's client let through, or why it was refused and whose key or budget it was."""

    client: Client | None = None
    refused: GatewayError | None = None
    refused_client: Client | None = None  # named in the log even though refused


CALLER = web.RequestKey("caller", Caller)
NOBODY = Caller()  # no key, or a route that takes none

CLIENT_ROOTS = frozenset(("v1", "chat", "models", "images", "messages", "responses", "embeddings"))
METERED = ("/chat/completions", "/messages", "/responses", "/embeddings", "/images/generations")
UNKNOWN_KEY = "Invalid API key: it matches no client of this gateway."


def presented_key(request: web.Request) -> str:
    """Bearer (OpenAI SDKs, ANTHROPIC_AUTH_TOKEN) or x-api-key (Anthropic SDKs' default)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key", "").strip()


def client_route(path: str) -> bool:
    return path.split("/", 2)[1] in CLIENT_ROOTS


def metered(request: web.Request) -> bool:
    """Routes that reach the pool: the ones a budget counts."""
    return request.method == "POST" and request.path.endswith(METERED)


@web.middleware
async def callers(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = presented_key(request)
    if not key or not client_route(request.path):
        request[CALLER] = NOBODY
        return await handler(request)
    gateway = request.app[GATEWAY]
    clients = gateway.clients
    client = clients.find(key) or await clients.resolve(key)  # a config key: no coroutine
    if client is None:
        request[CALLER] = Caller(refused=invalid_api_key(UNKNOWN_KEY))
        return await handler(request)
    refusal = client.refusal(gateway.clock.now())
    if refusal is not None:
        request[CALLER] = Caller(refused=invalid_api_key(refusal), refused_client=client)
        return await handler(request)
    if gateway.metrics is not None:
        gateway.metrics.add_client(client.name)
    if client.budget is None or not metered(request):
        request[CALLER] = Caller(client)
        return await handler(request)
    spent = await gateway.budgets.admit("client", client.name, client.budget)
    if spent is not None:
        log.info("client over budget", extra={"client": client.name, "measure": spent.measure})
        message = spent.message(f"Client '{client.name}'")
        request[CALLER] = Caller(refused=budget_spent(message, spent.retry_after), refused_client=client)
        return await handler(request)
    request[CALLER] = Caller(client)
    try:
        response = await handler(request)
    except Exception:
        await gateway.budgets.give_back("client", client.name, client.budget)
        raise
    if response.status >= 400:
        await gateway.budgets.give_back("client", client.name, client.budget)
    return response
