"""`GET /v1/me` and the `/me` page: a key holder's own standing, with their own key."""

from __future__ import annotations

from importlib import resources

import orjson
from aiohttp import web

from proxy.http.auth import authenticate
from proxy.http.clients import rate_limit_view
from proxy.http.keys import GATEWAY
from proxy.http.models import visible_models

_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:"  # data: for the inline favicon
)


async def me(request: web.Request) -> web.Response:
    """Name, limits, budget, used this period, reset time and the models this key may use."""
    gateway = request.app[GATEWAY]
    client = authenticate(request, gateway)
    standing = await gateway.budgets.standing("client", client.name, client.budget)
    body = {
        "object": "client",
        "name": client.name,
        "key": client.mask,
        "expires_at": client.expires_at,
        "rate_limit": rate_limit_view(client),
        **standing.to_dict(client.budget),
        "models": sorted(visible_models(gateway, client)),
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def page(request: web.Request) -> web.Response:
    html = resources.files("proxy").joinpath("static/me.html").read_bytes()
    return web.Response(
        body=html,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/me", me)
    app.router.add_get("/me", page)
