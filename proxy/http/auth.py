"""Who is calling: client keys for /v1, the admin key for /admin."""

from __future__ import annotations

import hmac

from aiohttp import web

from proxy.errors import invalid_api_key, not_found
from proxy.gateway import Client, Gateway


def presented_key(request: web.Request) -> str:
    """Bearer (OpenAI SDKs, ANTHROPIC_AUTH_TOKEN) or x-api-key (Anthropic SDKs' default)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key", "").strip()


def authenticate(request: web.Request, gateway: Gateway) -> Client:
    key = presented_key(request)
    if not key:
        raise invalid_api_key(
            "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>' "
            "with a client key of this gateway."
        )
    client = gateway.clients.find(key)
    if client is None:
        raise invalid_api_key("Invalid API key: it matches no client of this gateway.")
    return client


def require_admin(request: web.Request, gateway: Gateway) -> None:
    """Admin routes answer 404 when no admin key is configured, 401 on a wrong key."""
    admin_key = gateway.config.admin_key
    if not admin_key:
        raise not_found()
    if not hmac.compare_digest(presented_key(request).encode(), admin_key.encode()):
        raise invalid_api_key("Admin routes need 'Authorization: Bearer <admin_key>'.")
