"""Who is calling: client keys for /v1, the admin key for /admin."""

from __future__ import annotations

import hmac

from aiohttp import web

from proxy.errors import invalid_api_key, not_found
from proxy.gateway import Client, Gateway
from proxy.http.callers import CALLER, UNKNOWN_KEY, presented_key

__all__ = ["authenticate", "presented_key", "require_admin"]


def authenticate(request: web.Request, gateway: Gateway) -> Client:
    """The caller's client, as the `callers` middleware found it (runtime keys, expiry,
    budget); config keys are checked here too, for routes the middleware does not see."""
    caller = request[CALLER]
    if caller.client is not None:
        return caller.client
    if caller.refused is not None:
        raise caller.refused
    key = presented_key(request)
    if not key:
        raise invalid_api_key(
            "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>' "
            "with a client key of this gateway."
        )
    client = gateway.clients.find(key)
    if client is None:
        raise invalid_api_key(UNKNOWN_KEY)
    refusal = client.refusal(gateway.clock.now())
    if refusal is not None:
        raise invalid_api_key(refusal)
    return client


def require_admin(request: web.Request, gateway: Gateway) -> None:
    """Admin routes answer 404 when no admin key is configured, 401 on a wrong key."""
    admin_key = gateway.config.admin_key
    if not admin_key:
        raise not_found()
    if not hmac.compare_digest(presented_key(request).encode(), admin_key.encode()):
        raise invalid_api_key("Admin routes need 'Authorization: Bearer <admin_key>'.")
