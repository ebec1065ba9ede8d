"""`/admin/clients…`: issue, limit, rotate, disable and revoke client keys at runtime.

A created or rotated key is in that one answer and nowhere else: the store keeps its
digest, lists show a mask, and the change log names the client, never the key.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from proxy.clients import Client
from proxy.clients.directory import ClientError
from proxy.core.errors import ErrorKind, GatewayError
from proxy.errors import invalid_json, not_found
from proxy.gateway import Gateway
from proxy.http.auth import require_admin
from proxy.http.keys import GATEWAY, request_id
from proxy.state.ledgers import Unreachable

log = logging.getLogger("pool_proxy.clients")

ACTIONS = ("rotate", "disable", "enable")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def rate_limit_view(client: Client) -> dict[str, float] | None:
    limit = client.rate_limit
    return {"rps": limit.rate, "burst": limit.burst} if limit is not None else None


def view(client: Client, now: float) -> dict[str, Any]:
    """A client for the API: settings and state, with its key only as a mask."""
    return {
        "name": client.name,
        "source": client.source,
        "key": client.mask,
        "models": list(client.models) if client.models is not None else None,
        "rate_limit": rate_limit_view(client),
        "budget": {"period": client.budget.period, **client.budget.limits()} if client.budget else None,
        "expires_at": client.expires_at,
        "expired": client.expires_at is not None and client.expires_at <= now,
        "disabled": client.disabled,
        "note": client.note,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
    }


async def _with_standing(gateway: Gateway, clients: list[Client]) -> list[dict[str, Any]]:
    standings = await gateway.budgets.standings("client", {c.name: c.budget for c in clients})
    now = gateway.clock.now()
    rows = []
    for client in clients:
        s = standings[client.name]
        rows.append({**view(client, now), **s.to_dict(client.budget)})
    return rows


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_json("The body is not valid JSON.") from None


def _admin(request: web.Request) -> Gateway:
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    return gateway


def _changed(request: web.Request, gateway: Gateway, action: str, name: str, **what: Any) -> None:
    """Every change is logged (who, what; never a key) and counted."""
    log.warning(
        "client changed",
        extra={
            "action": action,
            "client": name,
            "by": "admin key",
            "remote": request.remote,
            "request_id": request_id(request),
            **what,
        },
    )
    if gateway.metrics is not None:
        gateway.metrics.client_changes.labels(action).inc()


async def list_clients(request: web.Request) -> web.Response:
    gateway = _admin(request)
    rows = await _with_standing(gateway, await gateway.clients.list())
    return _json({"object": "list", "data": rows, "prices": bool(gateway.budgets.prices)})


async def get_client(request: web.Request) -> web.Response:
    gateway = _admin(request)
    client = await _call(gateway.clients.get(request.match_info["name"]))
    return _json((await _with_standing(gateway, [client]))[0])


async def create_client(request: web.Request) -> web.Response:
    gateway = _admin(request)
    client, key = await _call(gateway.clients.create(await _body(request)))
    _changed(request, gateway, "create", client.name, settings=_settings(client, gateway))
    row = (await _with_standing(gateway, [client]))[0]
    return _json({**row, "api_key": key, "note_key": "Shown once: store it now."}, status=201)


async def update_client(request: web.Request) -> web.Response:
    gateway = _admin(request)
    client, changed = await _call(gateway.clients.update(request.match_info["name"], await _body(request)))
    _changed(request, gateway, "update", client.name, changed=changed)
    return _json((await _with_standing(gateway, [client]))[0])


async def client_action(request: web.Request) -> web.Response:
    gateway = _admin(request)
    name, action = request.match_info["name"], request.match_info["action"]
    if action not in ACTIONS:
        raise not_found()
    if action == "rotate":
        client, key = await _call(gateway.clients.rotate(name))
        _changed(request, gateway, action, name)
        row = (await _with_standing(gateway, [client]))[0]
        return _json({**row, "api_key": key, "note_key": "Shown once: store it now."})
    client = await _call(gateway.clients.set_disabled(name, action == "disable"))
    _changed(request, gateway, action, name)
    return _json((await _with_standing(gateway, [client]))[0])


async def delete_client(request: web.Request) -> web.Response:
    gateway = _admin(request)
    name = request.match_info["name"]
    await _call(gateway.clients.delete(name))
    _changed(request, gateway, "delete", name)
    return _json({"name": name, "deleted": True})


def _settings(client: Client, gateway: Gateway) -> dict[str, Any]:
    row = view(client, gateway.clock.now())
    return {k: row[k] for k in ("models", "rate_limit", "budget", "expires_at")}


async def _call(step: Any) -> Any:
    """A directory change, its refusals as API errors."""
    try:
        return await step
    except ClientError as exc:
        kind = ErrorKind.NOT_FOUND if exc.status == 404 else ErrorKind.INVALID_REQUEST
        raise GatewayError(exc.status, kind, exc.message, code=exc.code, param=exc.param) from None
    except Unreachable:
        message = "The state store is unreachable; client changes are refused until it answers."
        raise GatewayError(503, ErrorKind.UNAVAILABLE, message, code="state_unavailable") from None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/clients", list_clients)
    app.router.add_post("/admin/clients", create_client)
    app.router.add_get("/admin/clients/{name}", get_client)
    app.router.add_patch("/admin/clients/{name}", update_client)
    app.router.add_delete("/admin/clients/{name}", delete_client)
    app.router.add_post("/admin/clients/{name}/{action}", client_action)
