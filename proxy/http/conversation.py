"""The one handler every conversation door shares (chat completions, messages, responses).

A door only translates: its body → a parsed request holding the canonical `ChatRequest`,
events or a `Reply` → its answer. Authentication, the model allow-list, the sticky
conversation key, dispatch, fallbacks and the record of the exchange are the same for all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiohttp import web

from proxy.config import Config
from proxy.core.door import Door, StreamEncoder
from proxy.core.events import Reply, Usage
from proxy.errors import model_not_allowed
from proxy.http.auth import authenticate
from proxy.http.exchange import Exchange
from proxy.http.relay import relay
from proxy.pool.fallbacks import served_as
from proxy.request import ChatRequest

P = TypeVar("P")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConversationDoor(Door, Protocol[P]):
    """A door whose requests go to the pool as a chat. `served` is the canonical request as
    the model that served it (a fallback's, when one did), for the door to name it."""

    def parse(self, raw: bytes, config: Config) -> P: ...

    def chat_of(self, parsed: P) -> ChatRequest: ...

    def session_of(self, parsed: P) -> str | None: ...  # the door's own conversation key

    def stream_encoder(self, parsed: P, served: ChatRequest) -> StreamEncoder: ...

    def reply_response(
        self, parsed: P, served: ChatRequest, reply: Reply, usage: Usage, headers: dict[str, str]
    ) -> web.Response: ...


def conversation(door: ConversationDoor[P]) -> Handler:
    """The route handler for `door`: answered whole, or relayed as the upstream writes."""

    async def handle(request: web.Request) -> web.StreamResponse:
        with Exchange(request, door) as ex:
            gateway = ex.gateway
            ex.client = client = authenticate(request, gateway)
            parsed = door.parse(await request.read(), gateway.config)
            chat = door.chat_of(parsed)
            ex.for_chat(chat)
            if not client.may_use(chat.requested_model, chat.model):
                raise model_not_allowed(chat.requested_model)
            session = request.headers.get("x-session-id") or door.session_of(parsed)
            chat.session = session or chat.session  # pool.sticky
            if chat.stream:  # the encoder is made once the serving model is known
                return await relay(request, ex, chat, lambda served: door.stream_encoder(parsed, served))
            reply = await gateway.dispatcher.complete(chat, client.quota, ex.trace, may_use=client.may_use)
            usage = ex.replied(reply)
            return door.reply_response(parsed, served_as(chat, ex.trace), reply, usage, ex.headers())

    return handle
