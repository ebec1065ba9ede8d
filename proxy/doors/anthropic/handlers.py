"""`POST /v1/messages` and `POST /v1/messages/count_tokens` (Claude Code adds `?beta=true`:
queries are ignored)."""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.doors.anthropic.door import COUNT_TOKENS, MESSAGES
from proxy.doors.anthropic.request import count_input_tokens
from proxy.errors import model_not_allowed
from proxy.http.auth import authenticate
from proxy.http.exchange import Exchange
from proxy.http.relay import relay
from proxy.pool.sticky import anthropic_session


async def messages(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, MESSAGES) as ex:
        gateway = ex.gateway
        ex.client = client = authenticate(request, gateway)
        parsed = MESSAGES.parse(await request.read(), gateway.config.model_aliases)
        chat = parsed.chat
        ex.for_chat(chat)
        if not client.may_use(chat.requested_model, chat.model):
            raise model_not_allowed(chat.requested_model)
        session = request.headers.get("x-session-id") or anthropic_session(parsed.user_id)
        chat.session = session or chat.session  # pool.sticky
        if chat.stream:
            return await relay(request, ex, chat, MESSAGES.stream_encoder(parsed))
        reply = await gateway.dispatcher.complete(chat, client.quota, ex.trace, may_use=client.may_use)
        usage = ex.replied(reply)
        return MESSAGES.reply_response(parsed, reply, usage, ex.headers())


async def count_tokens(request: web.Request) -> web.Response:
    """A local estimate: Claude Code sends bursts of these for /context; no account, no bucket."""
    async with Exchange(request, COUNT_TOKENS) as ex:
        ex.client = authenticate(request, ex.gateway)
        tokens = count_input_tokens(await request.read())
        body = orjson.dumps({"input_tokens": tokens})
        return web.Response(body=body, content_type="application/json", headers=ex.headers())
