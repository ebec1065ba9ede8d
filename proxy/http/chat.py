"""`POST /v1/chat/completions`: OpenAI's chat, answered whole or relayed as it comes."""

from __future__ import annotations

from aiohttp import web

from proxy.doors.openai import CHAT
from proxy.errors import model_not_allowed
from proxy.http.auth import authenticate
from proxy.http.exchange import Exchange
from proxy.http.relay import relay
from proxy.pool.fallbacks import served_as


async def chat_completions(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, CHAT) as ex:
        gateway = ex.gateway
        ex.client = client = authenticate(request, gateway)
        chat = CHAT.parse(
            await request.read(), gateway.config.model_aliases, log_bodies=gateway.config.logging.log_bodies
        )
        ex.for_chat(chat)
        if not client.may_use(chat.requested_model, chat.model):
            raise model_not_allowed(chat.requested_model)
        chat.session = request.headers.get("x-session-id") or chat.session  # pool.sticky
        if chat.stream:  # the encoder is made once the serving model is known (a fallback's)
            return await relay(request, ex, chat, CHAT.stream_encoder)
        reply = await gateway.dispatcher.complete(chat, client.quota, ex.trace, may_use=client.may_use)
        usage = ex.replied(reply)
        return CHAT.reply_response(served_as(chat, ex.trace), reply, usage, ex.headers())
