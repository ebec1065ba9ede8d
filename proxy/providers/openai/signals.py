"""What an OpenAI-compatible upstream's failures mean for the account (DESIGN §5).

The rules read the error's `code`, `type` and `message` together; the reason quotes
only `code`/`type`, since some upstreams echo the API key in their messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proxy.outcome import OutcomeKind, UpstreamError
from proxy.providers.signals import ANY, Signal, classify, text

AUTH = OutcomeKind.AUTH_FAILED
QUOTA = OutcomeKind.QUOTA_EXHAUSTED

SIGNALS: tuple[Signal, ...] = (
    Signal(
        ANY,
        text(
            r"invalid_api_key|account_deactivated|invalid_authentication"
            r"|access was terminated|account has been deactivated"
        ),
        AUTH,
    ),
    Signal((401,), None, AUTH),
    Signal((402,), None, QUOTA),
    Signal(ANY, text(r"insufficient_quota|billing_hard_limit_reached|quota_exceeded"), QUOTA),
    Signal((403, 429), text(r"exceeded your current quota|credit|billing"), QUOTA),
    Signal((429,), None, OutcomeKind.RATE_LIMITED),
    Signal((403,), None, AUTH),
    Signal((400, 404, 413, 415, 422), None, OutcomeKind.CLIENT_ERROR),
)

_EMPTY_ERROR = {"message": "", "type": "invalid_request_error", "param": None, "code": None}


def classify_openai(status: int, headers: Mapping[str, str] | None, data: bytes, now: float) -> UpstreamError:
    """A failed answer (or a 200 stream that opened with an error event) as an outcome.

    A client error keeps the upstream's own envelope: the client sees what to fix.
    """
    error = error_of(data)
    code = str(error.get("code") or "")
    kind = str(error.get("type") or "")
    message = str(error.get("message") or "")[:200]
    if error:
        client_body = {"error": {**_EMPTY_ERROR, **error}}
    else:
        fallback = message or f"The upstream rejected the request (HTTP {status})."
        client_body = {"error": {**_EMPTY_ERROR, "message": fallback}}
    return classify(
        SIGNALS,
        status,
        f"{code} {kind} {message}",
        headers=headers,
        now=now,
        shown=code or kind,
        client_body=client_body,
    )


def error_of(data: bytes) -> dict[str, Any]:
    """The `error` object of an answer, whichever shape it came in."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"message": data[:200].decode("utf-8", "replace")} if data else {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]  # type: ignore[no-any-return]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return {"message": body["error"]}
    return {}
