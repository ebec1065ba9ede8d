"""The OpenAI door: `/v1/chat/completions` (and `/v1/images/generations`) as OpenAI speaks them.

Body → `ChatRequest` (proxy/request.py), events → `chat.completion.chunk` SSE (encoder.py),
`Reply` → `chat.completion` (reply.py), `GatewayError` → OpenAI's envelope (errors.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from proxy.config import Config
from proxy.core.errors import GatewayError
from proxy.core.events import Reply, Usage
from proxy.doors.openai import errors, legacy
from proxy.doors.openai.encoder import ChatStreamEncoder
from proxy.doors.openai.reply import completion_body
from proxy.request import ChatRequest, chat_request, parse_json_body

if TYPE_CHECKING:
    from proxy.core.admission import ClientWindow


class OpenAIDoor:
    """OpenAI's wire format; `route` labels the requests it serves in logs and metrics."""

    def __init__(self, route: str) -> None:
        self.route = route

    def parse(self, raw: bytes, config: Config) -> ChatRequest:
        """The chat body; an OpenAI upstream may hand over its own bytes unless the answer
        text must be collected for the body log, or reshaped for legacy `functions`
        (both need typed events)."""
        body = parse_json_body(raw)
        if legacy.uses_functions(body):
            chat = chat_request(legacy.as_tools(body), config.model_aliases)
            chat.legacy_functions = True
            return chat
        chat = chat_request(body, config.model_aliases, raw)
        chat.passthrough = not config.logging.log_bodies
        return chat

    def chat_of(self, parsed: ChatRequest) -> ChatRequest:
        return parsed

    def session_of(self, parsed: ChatRequest) -> str | None:
        return None  # `prompt_cache_key` is read by parse_chat

    def stream_encoder(self, parsed: ChatRequest, served: ChatRequest) -> ChatStreamEncoder:
        return ChatStreamEncoder(
            served.requested_model, include_usage=served.include_usage, legacy=parsed.legacy_functions
        )

    def reply_response(
        self, parsed: ChatRequest, served: ChatRequest, reply: Reply, usage: Usage, headers: dict[str, str]
    ) -> web.Response:
        body = completion_body(served.requested_model, reply, usage, legacy=parsed.legacy_functions)
        return web.Response(body=body, content_type="application/json", headers=headers)

    def error_response(self, error: GatewayError, headers: dict[str, str]) -> web.Response:
        return errors.error_response(error, headers)

    def limit_headers(self, window: ClientWindow | None) -> dict[str, str]:
        return errors.rate_headers(window)


CHAT = OpenAIDoor("chat")
IMAGES = OpenAIDoor("images")
OTHER = OpenAIDoor("other")  # admin, models, unknown routes: OpenAI's envelope too
