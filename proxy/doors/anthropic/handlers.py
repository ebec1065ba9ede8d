"""`POST /v1/messages/count_tokens`: answered locally (Claude Code adds `?beta=true`: queries
are ignored). `POST /v1/messages` itself is the shared conversation handler (http/conversation.py)."""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.doors.anthropic.door import COUNT_TOKENS
from proxy.doors.anthropic.request import count_input_tokens
from proxy.http.auth import authenticate
from proxy.http.exchange import Exchange


async def count_tokens(request: web.Request) -> web.Response:
    """A local estimate: Claude Code sends bursts of these for /context; no account, no bucket."""
    with Exchange(request, COUNT_TOKENS) as ex:
        ex.client = authenticate(request, ex.gateway)
        tokens = count_input_tokens(await request.read())
        body = orjson.dumps({"input_tokens": tokens})
        return web.Response(body=body, content_type="application/json", headers=ex.headers())
