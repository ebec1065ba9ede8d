"""The gateway's answers that are not answers: one factory per stable error code (DESIGN §7).

Each returns a `GatewayError` (proxy.core.errors); the door the request came through
renders it in its own envelope and headers.
"""

from __future__ import annotations

from typing import Any

from proxy.core.errors import ErrorKind, GatewayError


def envelope(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope: the shape upstream client errors arrive in (`UpstreamError.body`)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def invalid_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, ErrorKind.INVALID_REQUEST, message, code="invalid_request", param=param)


def invalid_json(message: str) -> GatewayError:
    return GatewayError(400, ErrorKind.INVALID_REQUEST, message, code="invalid_json")


def invalid_api_key(message: str = "Missing or invalid API key.") -> GatewayError:
    return GatewayError(401, ErrorKind.AUTHENTICATION, message, code="invalid_api_key")


def budget_spent(message: str, retry_after: float) -> GatewayError:
    """A client's own budget is used up (issue 12); nothing reached the pool."""
    return GatewayError(429, ErrorKind.QUOTA, message, code="insufficient_quota", retry_after=retry_after)


def model_not_allowed(model: str) -> GatewayError:
    message = f"This key may not use the model '{model}'."
    return GatewayError(403, ErrorKind.PERMISSION, message, code="model_not_allowed", param="model")


def model_not_found(model: str, message: str = "") -> GatewayError:
    message = message or f"The model '{model}' does not exist or no account serves it."
    return GatewayError(404, ErrorKind.NOT_FOUND, message, code="model_not_found", param="model")


def not_found(message: str = "No such route.", code: str = "not_found") -> GatewayError:
    return GatewayError(404, ErrorKind.NOT_FOUND, message, code=code)


def method_not_allowed() -> GatewayError:
    message = "Method not allowed for this route."
    return GatewayError(405, ErrorKind.INVALID_REQUEST, message, code="method_not_allowed")


def request_too_large() -> GatewayError:
    message = "The request body is too large."
    return GatewayError(413, ErrorKind.TOO_LARGE, message, code="request_too_large")


def client_rate_limited(name: str, wait: float, waiting: str) -> GatewayError:
    message = f"Rate limit reached for client '{name}'. Retry after {waiting}."
    return GatewayError(429, ErrorKind.RATE_LIMITED, message, code="rate_limit_exceeded", retry_after=wait)


def insufficient_quota(retry_after: float) -> GatewayError:
    message = "Every account that serves this model has used up its quota."
    return GatewayError(429, ErrorKind.QUOTA, message, code="insufficient_quota", retry_after=retry_after)


def no_available_account(retry_after: float | None, detail: str = "") -> GatewayError:
    """`retry_after` None: waiting will not help (no Retry-After, no "retry later")."""
    when = "right now; retry later." if retry_after is not None else "right now."
    message = f"No account is available for this model {when} {detail}".strip()
    return GatewayError(
        503, ErrorKind.UNAVAILABLE, message, code="no_available_account", retry_after=retry_after
    )


def shutting_down() -> GatewayError:
    return GatewayError(503, ErrorKind.UNAVAILABLE, "The gateway is shutting down.", code="shutting_down")


def upstream_error(message: str) -> GatewayError:
    return GatewayError(502, ErrorKind.UPSTREAM, message, code="upstream_error")


def upstream_timeout(message: str) -> GatewayError:
    return GatewayError(504, ErrorKind.TIMEOUT, message, code="upstream_timeout")


def upstream_client_error(status: int, message: str, body: dict[str, Any] | None) -> GatewayError:
    """The upstream's own 4xx: the client's to fix, relayed with the upstream's envelope."""
    return GatewayError(status, ErrorKind.UPSTREAM_CLIENT, message, upstream=body)


def internal_error(request_id: str) -> GatewayError:
    message = f"Internal error in the gateway (request id {request_id}); see its log."
    return GatewayError(500, ErrorKind.INTERNAL, message, code="internal_error")
