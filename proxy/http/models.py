"""`GET /v1/models` and `GET /v1/models/{id}`: OpenAI's shape, or Anthropic's for its clients."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.config.aliases import is_glob
from proxy.core.errors import GatewayError
from proxy.doors.anthropic.door import MODELS as ANTHROPIC_MODELS
from proxy.doors.anthropic.models import model_entry, model_page
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
        if is_glob(alias):
            continue  # a pattern (`claude-*`), not a name a client could pick from a list
        if alias not in found and target in found and client.may_use(alias, target):
            found[alias] = _model(alias, created, found[target]["owned_by"])
    return found


def _model(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner}


def _for_anthropic(request: web.Request) -> bool:
    """Anthropic's SDKs and Claude Code send `anthropic-version`; OpenAI clients never do."""
    return "anthropic-version" in request.headers


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def list_models(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    try:
        found = visible_models(gateway, authenticate(request, gateway))
    except GatewayError as error:
        if _for_anthropic(request):
            return ANTHROPIC_MODELS.error_response(error, {})
        raise
    if _for_anthropic(request):
        return _json(model_page(list(found), gateway.started_at, request.query))
    return _json({"object": "list", "data": sorted(found.values(), key=lambda m: m["id"])})


async def get_model(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    name = request.match_info["model"]
    try:
        model = visible_models(gateway, authenticate(request, gateway)).get(name)
        if model is None:
            raise model_not_found(name)
    except GatewayError as error:
        if _for_anthropic(request):
            return ANTHROPIC_MODELS.error_response(error, {})
        raise
    if _for_anthropic(request):
        return _json(model_entry(name, gateway.started_at))
    return _json(model)
