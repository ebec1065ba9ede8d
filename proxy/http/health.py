"""`/healthz` (alive) and `/readyz` (an account can serve)."""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.http.keys import GATEWAY


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    ready = gateway.ready()
    body = {
        "status": "ready" if ready else "unavailable",
        "accounts": len(gateway.manager.accounts),
        "state_backend": gateway.config.state.backend,
        "degraded": gateway.store.degraded,
    }
    return web.Response(
        status=200 if ready else 503, body=orjson.dumps(body), content_type="application/json"
    )
