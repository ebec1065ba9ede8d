"""The edge of every request: request id, CORS, and errors rendered by the request's door.

A handler that opened an `Exchange` names its door (and the headers it learnt); any
other route — admin, models, aiohttp's own 404/405/413 — answers in OpenAI's envelope.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from proxy.core.errors import ErrorKind, GatewayError
from proxy.doors.openai import OTHER
from proxy.errors import internal_error, method_not_allowed, not_found, request_too_large
from proxy.http.exchange import EXCHANGE, Exchange
from proxy.http.keys import ORIGIN, REQUEST_ID, request_id

log = logging.getLogger("pool_proxy.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

EXPOSED = ", ".join(
    (
        "X-Request-ID",
        "Retry-After",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-pool-proxy-overhead-ms",
        "x-pool-proxy-account",
        "x-pool-proxy-dropped",
        "x-pool-proxy-tools",
    )
)

__all__ = ["edge", "edge_headers", "request_id"]


def _http_error(exc: web.HTTPException) -> GatewayError:
    if exc.status == 404:
        return not_found()
    if exc.status == 405:
        return method_not_allowed()
    if exc.status == 413:
        return request_too_large()
    kind = ErrorKind.INVALID_REQUEST if exc.status < 500 else ErrorKind.INTERNAL
    return GatewayError(exc.status, kind, exc.reason or "Request failed.")


def edge_headers(request: web.Request) -> dict[str, str]:
    """The request id and CORS headers, for a response a handler prepares itself (streams)."""
    headers = {"X-Request-ID": request[REQUEST_ID]}
    origin = request[ORIGIN]
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = EXPOSED
    return headers


def edge(cors_origins: tuple[str, ...]) -> Middleware:
    any_origin = "*" in cors_origins
    allowed = frozenset(cors_origins)

    def cors_origin(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if not origin or not cors_origins:
            return None
        if any_origin:
            return "*"
        return origin if origin in allowed else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = request.headers.get("X-Request-ID") or f"{random.getrandbits(64):016x}"
        request[REQUEST_ID] = rid[:128]
        origin = cors_origin(request)
        request[ORIGIN] = origin or ""  # always set: a lookup that misses costs an exception
        if origin and request.method == "OPTIONS":
            return _preflight(request, origin)
        try:
            response = await handler(request)
        except GatewayError as exc:
            response = _render(request, exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _render(request, _http_error(exc))
        except (ConnectionResetError, BrokenPipeError):
            raise  # the client left; nothing to answer
        except Exception:
            log.exception("unhandled error", extra={"request_id": request[REQUEST_ID], "path": request.path})
            response = _render(request, internal_error(request[REQUEST_ID]))
        if not response.prepared:  # streams carry these from their start (edge_headers)
            response.headers["X-Request-ID"] = request[REQUEST_ID]
            if origin:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Expose-Headers"] = EXPOSED
        return response

    return middleware


def _render(request: web.Request, error: GatewayError) -> web.Response:
    """The error in the envelope of the door the request came through."""
    exchange: Exchange | None = request.get(EXCHANGE)
    if exchange is None:
        return OTHER.error_response(error, {})
    return exchange.door.error_response(error, exchange.headers())


def _preflight(request: web.Request, origin: str) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": request.headers.get(
                "Access-Control-Request-Headers", "Authorization, Content-Type"
            ),
            "Access-Control-Max-Age": "600",
            "X-Request-ID": request[REQUEST_ID],
        },
    )
