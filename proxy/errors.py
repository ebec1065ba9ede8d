"""The OpenAI error envelope, in one place (DESIGN §7)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def envelope(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class ApiError(Exception):
    """An error the gateway answers with; rendered as the OpenAI envelope."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers or {}
        self.body = body  # an upstream's own envelope, relayed as is (client_error)

    def payload(self) -> dict[str, Any]:
        return self.body or envelope(self.message, self.type, self.code, self.param)

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=orjson.dumps(self.payload()),
            content_type="application/json",
            headers=self.headers,
        )


def invalid_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request_error", "invalid_request", message, param=param)


def invalid_json(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", "invalid_json", message)


def invalid_api_key(message: str = "Missing or invalid API key.") -> ApiError:
    return ApiError(401, "invalid_request_error", "invalid_api_key", message)


def budget_spent(message: str, retry_after: float) -> ApiError:
    """A client's own budget is used up (issue 12); nothing reached the pool."""
    wait = str(max(1, int(retry_after + 0.999)))
    return ApiError(429, "insufficient_quota", "insufficient_quota", message, headers={"Retry-After": wait})


def model_not_allowed(model: str) -> ApiError:
    return ApiError(
        403,
        "invalid_request_error",
        "model_not_allowed",
        f"This key may not use the model '{model}'.",
        param="model",
    )


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        "invalid_request_error",
        "model_not_found",
        f"The model '{model}' does not exist or no account serves it.",
        param="model",
    )


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}


def insufficient_quota(retry_after: float) -> ApiError:
    return ApiError(
        429,
        "insufficient_quota",
        "insufficient_quota",
        "Every account that serves this model has used up its quota.",
        headers=retry_after_header(retry_after),
    )


def no_available_account(retry_after: float, detail: str = "") -> ApiError:
    message = "No account is available for this model right now; retry later."
    return ApiError(
        503,
        "service_unavailable_error",
        "no_available_account",
        f"{message} {detail}".strip(),
        headers=retry_after_header(retry_after),
    )


def upstream_error(message: str) -> ApiError:
    return ApiError(502, "upstream_error", "upstream_error", message)


def upstream_timeout(message: str) -> ApiError:
    return ApiError(504, "upstream_error", "upstream_timeout", message)
