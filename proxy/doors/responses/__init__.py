"""The OpenAI Responses door: `/v1/responses` (Codex CLI, Responses SDK clients).

Body → `ChatRequest` (request.py, items.py, tools.py), events → Responses events
(stream.py), `Reply` → a `response` object (reply.py); errors in OpenAI's envelope,
rendered by the OpenAI door's renderer since the Responses API shares it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from proxy.config import Config
from proxy.core.errors import GatewayError
from proxy.core.events import Reply, Usage
from proxy.doors.openai import errors as openai_errors
from proxy.doors.responses.reply import response_body
from proxy.doors.responses.request import ResponsesRequest, parse_responses
from proxy.doors.responses.shape import ResponseShell
from proxy.doors.responses.stream import ResponsesStream
from proxy.request import ChatRequest

if TYPE_CHECKING:
    from proxy.core.admission import ClientWindow


class ResponsesDoor:
    route = "responses"

    def parse(self, raw: bytes, config: Config) -> ResponsesRequest:
        return parse_responses(raw, config.model_aliases)

    def chat_of(self, parsed: ResponsesRequest) -> ChatRequest:
        return parsed.chat

    def session_of(self, parsed: ResponsesRequest) -> str | None:
        return parsed.session

    def stream_encoder(self, request: ResponsesRequest, served: ChatRequest) -> ResponsesStream:
        return ResponsesStream(_shell(request))

    def reply_response(
        self,
        request: ResponsesRequest,
        served: ChatRequest,
        reply: Reply,
        usage: Usage,
        headers: dict[str, str],
    ) -> web.Response:
        body = orjson.dumps(response_body(_shell(request), reply, usage))
        return web.Response(body=body, content_type="application/json", headers=headers)

    def error_response(self, error: GatewayError, headers: dict[str, str]) -> web.Response:
        return openai_errors.error_response(error, headers)

    def limit_headers(self, window: ClientWindow | None) -> dict[str, str]:
        return openai_errors.rate_headers(window)


def _shell(request: ResponsesRequest) -> ResponseShell:
    return ResponseShell(request.model, request.names, request.echo)


RESPONSES = ResponsesDoor()
