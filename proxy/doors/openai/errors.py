"""`GatewayError` → OpenAI's envelope (all four keys) and its headers (DESIGN §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from proxy.core.errors import ErrorKind, GatewayError
from proxy.errors import envelope
from proxy.godur import format_go_duration

if TYPE_CHECKING:
    from proxy.core.admission import ClientWindow

TYPES = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.AUTHENTICATION: "invalid_request_error",
    ErrorKind.PERMISSION: "invalid_request_error",
    ErrorKind.NOT_FOUND: "invalid_request_error",
    ErrorKind.TOO_LARGE: "invalid_request_error",
    ErrorKind.UPSTREAM_CLIENT: "invalid_request_error",
    ErrorKind.RATE_LIMITED: "rate_limit_error",
    ErrorKind.QUOTA: "insufficient_quota",
    ErrorKind.UNAVAILABLE: "service_unavailable_error",
    ErrorKind.UPSTREAM: "upstream_error",
    ErrorKind.TIMEOUT: "upstream_error",
    ErrorKind.INTERNAL: "server_error",
}


def error_body(error: GatewayError) -> dict[str, Any]:
    """The upstream's own envelope when it refused the client's request, else ours."""
    if error.upstream is not None:
        return error.upstream
    return envelope(error.message, TYPES[error.kind], error.code, error.param)


def error_response(error: GatewayError, headers: dict[str, str]) -> web.Response:
    if error.retry_after is not None:
        headers = {**headers, "Retry-After": str(max(1, int(error.retry_after + 0.999)))}
    return web.Response(
        status=error.status,
        body=orjson.dumps(error_body(error)),
        content_type="application/json",
        headers=headers,
    )


def rate_headers(window: ClientWindow | None) -> dict[str, str]:
    """The client's own request bucket, as OpenAI's `x-ratelimit-*-requests` headers."""
    if window is None:
        return {}
    return {
        "x-ratelimit-limit-requests": str(window.limit),
        "x-ratelimit-remaining-requests": str(max(0, window.remaining)),
        "x-ratelimit-reset-requests": format_go_duration(window.reset),
    }
