"""The gateway's errors as the domain sees them; each door renders them in its envelope.

`code` is the stable name from DESIGN §7 (`model_not_found`, `no_available_account`, …);
`kind` is the broad class a door maps to its own error type and status.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    INVALID_REQUEST = "invalid_request"  # the client's body or parameters (400)
    AUTHENTICATION = "authentication"  # missing, unknown, expired or disabled key (401)
    PERMISSION = "permission"  # the key may not do this (403)
    NOT_FOUND = "not_found"  # no such model or route (404)
    TOO_LARGE = "too_large"  # body over max_body (413)
    RATE_LIMITED = "rate_limited"  # the client's own bucket (429)
    QUOTA = "quota"  # every candidate exhausted, or a budget used up (429)
    UNAVAILABLE = "unavailable"  # every candidate cooling or busy (503)
    UPSTREAM = "upstream"  # attempts used up on upstream failures (502)
    TIMEOUT = "timeout"  # the upstream timed out on the last attempt (504)
    UPSTREAM_CLIENT = "upstream_client"  # the upstream's own 4xx, the client's to fix
    INTERNAL = "internal"  # a bug in the gateway itself (500)


class GatewayError(Exception):
    """An error the gateway answers with, in whatever door the request came through."""

    def __init__(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        upstream: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after  # seconds; doors send it as Retry-After (whole, ≥ 1)
        self.upstream = upstream  # an upstream's own error envelope (UPSTREAM_CLIENT)
