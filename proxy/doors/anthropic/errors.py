"""GatewayError → Anthropic's envelope, status and headers (frontdoors.md §1.6).

The statuses are chosen for what the Stainless SDKs and Claude Code do with them:
429 and 529 are retried (after `retry-after`), 401 must say `x-should-retry: false` or
Claude Code retries it for minutes, and upstream context-length errors are re-worded
to the text Claude Code parses before it compacts the conversation.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
from aiohttp import web

from proxy.core.errors import ErrorKind, GatewayError

OVERLOADED = 529  # Anthropic's status for "no capacity right now, retry"
FAR_OFF = 60.0  # SDKs ignore retry-after beyond this; a longer wait is not worth retrying

_BY_KIND: dict[ErrorKind, tuple[str, int | None]] = {  # type, status (None: the error's own)
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.AUTHENTICATION: ("authentication_error", 401),
    ErrorKind.PERMISSION: ("permission_error", 403),
    ErrorKind.NOT_FOUND: ("not_found_error", 404),
    ErrorKind.TOO_LARGE: ("request_too_large", 413),
    ErrorKind.RATE_LIMITED: ("rate_limit_error", 429),
    ErrorKind.QUOTA: ("rate_limit_error", 429),
    ErrorKind.UNAVAILABLE: ("overloaded_error", OVERLOADED),
    ErrorKind.UPSTREAM: ("api_error", None),
    ErrorKind.TIMEOUT: ("api_error", None),
}
_BY_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}
_CONTEXT = re.compile(r"context.(?:length|window)|maximum context|prompt is too long|too many tokens", re.I)
_MAXIMUM = re.compile(r"maximum context length is (\d+)|(\d+) maximum|context \w+ of (\d+)", re.I)
_PROMPT = re.compile(r"(\d+) in the messages|resulted in (\d+) tokens|too long: (\d+) tokens", re.I)
_COMPLETION = re.compile(r"(\d+) in the completion", re.I)


def error_type(error: GatewayError) -> str:
    if error.kind is ErrorKind.UPSTREAM_CLIENT:
        return _BY_STATUS.get(error.status, "invalid_request_error" if error.status < 500 else "api_error")
    return _BY_KIND.get(error.kind, ("api_error", None))[0]


def error_status(error: GatewayError) -> int:
    status = _BY_KIND.get(error.kind, ("", None))[1]
    return status if status is not None else error.status


def error_message(error: GatewayError) -> str:
    """The message, with an upstream's context-length error in the wording Claude Code parses."""
    message = error.message
    upstream = error.upstream.get("error") if isinstance(error.upstream, dict) else None
    if isinstance(upstream, dict) and isinstance(upstream.get("message"), str):
        message = upstream["message"]
        code = upstream.get("code")
    else:
        code = error.code
    if error.kind is not ErrorKind.UPSTREAM_CLIENT:
        return message
    if code == "context_length_exceeded" or _CONTEXT.search(message):
        return context_message(message)
    return message


def context_message(upstream: str) -> str:
    maximum, prompt, completion = (_number(p, upstream) for p in (_MAXIMUM, _PROMPT, _COMPLETION))
    if maximum is not None and prompt is not None:
        if completion is not None and prompt <= maximum:
            return (
                f"input length and `max_tokens` exceed context limit: {prompt} + {completion} > {maximum}, "
                "decrease input length or `max_tokens` and try again"
            )
        return f"prompt is too long: {prompt} tokens > {maximum} maximum"
    if upstream.lower().startswith("prompt is too long"):
        return upstream
    return f"prompt is too long: {upstream}"


def _number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return int(next(group for group in match.groups() if group is not None))


def error_body(error: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(error), "message": error_message(error)}}


def error_headers(error: GatewayError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if error.kind is ErrorKind.AUTHENTICATION:
        headers["x-should-retry"] = "false"  # else Claude Code retries a wrong key for minutes
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
        if error.kind is ErrorKind.QUOTA and error.retry_after > FAR_OFF:
            headers["x-should-retry"] = "false"
    elif error.code == "no_available_account":  # a dead pool: only an operator brings it back
        headers["x-should-retry"] = "false"
    return headers


def error_response(error: GatewayError, headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=error_status(error),
        body=orjson.dumps(error_body(error)),
        content_type="application/json",
        headers={**headers, **error_headers(error)},
    )
