"""The Anthropic door as the exchange and relay see it (proxy/core/door.py's Door)."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from proxy.config import Config
from proxy.core.errors import GatewayError
from proxy.core.events import Reply, Usage
from proxy.doors.anthropic import errors
from proxy.doors.anthropic.reply import message_json
from proxy.doors.anthropic.request import MessagesRequest, parse_messages
from proxy.doors.anthropic.stream import MessagesStream
from proxy.pool.sticky import anthropic_session
from proxy.request import ChatRequest

if TYPE_CHECKING:
    from proxy.core.admission import ClientWindow


class AnthropicDoor:
    """Anthropic's wire format; `route` labels the requests it serves in logs and metrics."""

    def __init__(self, route: str) -> None:
        self.route = route

    def parse(self, raw: bytes, config: Config) -> MessagesRequest:
        # `passthrough` stays off: this door needs typed events
        return parse_messages(raw, config.model_aliases)

    def chat_of(self, parsed: MessagesRequest) -> ChatRequest:
        return parsed.chat

    def session_of(self, parsed: MessagesRequest) -> str | None:
        return anthropic_session(parsed.user_id)

    def stream_encoder(self, request: MessagesRequest, served: ChatRequest) -> MessagesStream:
        return MessagesStream(request.model, request.input_tokens(), request.names, thinking=request.thinking)

    def reply_response(
        self,
        request: MessagesRequest,
        served: ChatRequest,
        reply: Reply,
        usage: Usage,
        headers: dict[str, str],
    ) -> web.Response:
        body = orjson.dumps(message_json(request, reply, usage))
        return web.Response(body=body, content_type="application/json", headers=headers)

    def error_response(self, error: GatewayError, headers: dict[str, str]) -> web.Response:
        return errors.error_response(error, headers)

    def limit_headers(self, window: ClientWindow | None) -> dict[str, str]:
        """The client's request bucket as Anthropic's `anthropic-ratelimit-requests-*` headers."""
        if window is None:
            return {}
        return {
            "anthropic-ratelimit-requests-limit": str(window.limit),
            "anthropic-ratelimit-requests-remaining": str(max(0, window.remaining)),
            "anthropic-ratelimit-requests-reset": _stamp(int(time.time() + window.reset)),
        }


@lru_cache(maxsize=64)
def _stamp(second: int) -> str:
    """An RFC 3339 UTC time; requests of one second share it (gmtime + strftime cost a
    third of the headers' CPU). `int` floors as gmtime does: the times are after 1970."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


MESSAGES = AnthropicDoor("messages")
COUNT_TOKENS = AnthropicDoor("count_tokens")
MODELS = AnthropicDoor("models")
