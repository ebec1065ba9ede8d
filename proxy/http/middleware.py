"""The edge of every request: request id, CORS, and the error envelope for everything."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from proxy.errors import ApiError, envelope

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
    )
)


REQUEST_ID = web.RequestKey("request_id", str)


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]


def _http_error(exc: web.HTTPException) -> ApiError:
    status = exc.status
    if status == 404:
        return ApiError(404, "invalid_request_error", "not_found", "No such route.")
    if status == 405:
        return ApiError(
            405, "invalid_request_error", "method_not_allowed", "Method not allowed for this route."
        )
    if status == 413:
        return ApiError(413, "invalid_request_error", "request_too_large", "The request body is too large.")
    return ApiError(status, "invalid_request_error", None, exc.reason or "Request failed.")


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
        if origin and request.method == "OPTIONS":
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
        try:
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _http_error(exc).response()
        except (ConnectionResetError, BrokenPipeError):
            raise  # the client left; nothing to answer
        except Exception:
            log.exception("unhandled error", extra={"request_id": request[REQUEST_ID], "path": request.path})
            response = web.Response(
                status=500,
                content_type="application/json",
                text=_internal_error(request[REQUEST_ID]),
            )
        if not response.prepared:
            response.headers["X-Request-ID"] = request[REQUEST_ID]
            if origin:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Expose-Headers"] = EXPOSED
        return response

    return middleware


def _internal_error(rid: str) -> str:
    import orjson

    body = envelope(
        f"Internal error in the gateway (request id {rid}); see its log.",
        "server_error",
        "internal_error",
    )
    return orjson.dumps(body).decode()


def cors_headers(request: web.Request, cors_origins: tuple[str, ...]) -> dict[str, str]:
    """CORS headers for responses prepared by a handler itself (streams)."""
    origin = request.headers.get("Origin")
    if not origin or not cors_origins:
        return {}
    value = "*" if "*" in cors_origins else (origin if origin in cors_origins else None)
    if value is None:
        return {}
    return {"Access-Control-Allow-Origin": value, "Access-Control-Expose-Headers": EXPOSED}
