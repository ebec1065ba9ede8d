"""`POST /v1/responses`: the Responses API on the same pool, answered whole or streamed."""

from __future__ import annotations

from aiohttp import web

from proxy.doors.responses import RESPONSES
from proxy.errors import model_not_allowed
from proxy.http.auth import authenticate
from proxy.http.exchange import Exchange
from proxy.http.relay import relay


async def responses(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, RESPONSES) as ex:
        gateway = ex.gateway
        ex.client = client = authenticate(request, gateway)
        parsed = RESPONSES.parse(await request.read(), gateway.config.model_aliases)
        chat = parsed.chat
        ex.for_chat(chat)
        if not client.may_use(chat.requested_model, chat.model):
            raise model_not_allowed(chat.requested_model)
        chat.session = request.headers.get("x-session-id") or chat.session  # pool.sticky
        if chat.stream:
            return await relay(request, ex, chat, RESPONSES.stream_encoder(parsed))
        reply = await gateway.dispatcher.complete(chat, client.quota, ex.trace, may_use=client.may_use)
        usage = ex.replied(reply)
        return RESPONSES.reply_response(parsed, reply, usage, ex.headers())
