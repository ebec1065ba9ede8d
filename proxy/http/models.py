"""`GET /v1/models` and `GET /v1/models/{id}` in OpenAI's shape."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.errors import model_not_found
from proxy.gateway import Client, Gateway
from proxy.http.auth import authenticate
from proxy.http.keys import GATEWAY
from proxy.pool.status import State

_GONE = (State.INVALID, State.DISABLED)


def visible_models(gateway: Gateway, client: Client) -> dict[str, dict[str, Any]]:
    """Models of accounts that are usable or will recover by themselves, plus aliases."""
    created = int(gateway.started_at)
    found: dict[str, dict[str, Any]] = {}
    for account in gateway.manager.accounts.values():
        if gateway.store.status(account.id).state in _GONE:
            continue
        for model in account.provider.listed_models():
            if model not in found and client.may_use(model):
                found[model] = _model(model, created, account.config.provider)
    for alias, target in gateway.config.model_aliases.items():
        if alias not in found and target in found and client.may_use(alias, target):
            found[alias] = _model(alias, created, found[target]["owned_by"])
    return found


def _model(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner}


async def list_models(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    client = authenticate(request, gateway)
    data = sorted(visible_models(gateway, client).values(), key=lambda m: m["id"])
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    client = authenticate(request, gateway)
    name = request.match_info["model"]
    model = visible_models(gateway, client).get(name)
    if model is None:
        raise model_not_found(name)
    return web.Response(body=orjson.dumps(model), content_type="application/json")
