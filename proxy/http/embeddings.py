"""`POST /v1/embeddings`: checked, then tried on the accounts whose provider can embed."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

import orjson
from aiohttp import web

from proxy.doors.embeddings import encode_answer, parse_embeddings, usage_of
from proxy.doors.openai import OpenAIDoor
from proxy.errors import model_not_allowed, model_not_found
from proxy.http.auth import authenticate
from proxy.http.exchange import Exchange
from proxy.pool.manager import Account

EMBEDDINGS = OpenAIDoor("embeddings")


@runtime_checkable
class Embedder(Protocol):
    """A provider that can embed (today: `openai`, OpenAI-compatible services)."""

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]: ...


def embedding_accounts(serving: tuple[Account, ...], model: str) -> tuple[Account, ...]:
    found = tuple(a for a in serving if isinstance(a.provider, Embedder))
    if not found:
        raise model_not_found(
            model, f"No account of this gateway serves embeddings with the model '{model}'."
        )
    return found


async def embeddings(request: web.Request) -> web.Response:
    with Exchange(request, EMBEDDINGS) as ex:
        gateway = ex.gateway
        ex.client = client = authenticate(request, gateway)
        wanted = parse_embeddings(await request.read(), gateway.config.model_aliases)
        ex.model = wanted.requested_model
        if not client.may_use(wanted.requested_model, wanted.model):
            raise model_not_allowed(wanted.requested_model)
        accounts = embedding_accounts(gateway.manager.serving(wanted.model), wanted.requested_model)

        def call(account: Account) -> Awaitable[dict[str, Any]]:
            provider = account.provider
            assert isinstance(provider, Embedder)  # embedding_accounts chose only these
            return provider.embeddings(wanted.body)

        answer = await gateway.dispatcher.run(wanted.model, accounts, call, client.quota, ex.trace)
        ex.usage = usage_of(answer)
        body = orjson.dumps(encode_answer(answer, wanted.encoding))
        return web.Response(body=body, content_type="application/json", headers=ex.headers())
