"""`PUT /admin/accounts/{id}/credential` and `POST /admin/accounts/{id}/test`: the two
things an operator does when a web session was logged out (issue 13)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.errors import invalid_json, invalid_request, not_found
from proxy.gateway import Gateway
from proxy.http.auth import require_admin
from proxy.http.keys import GATEWAY
from proxy.pool.checkup import check_account
from proxy.pool.credentials import CredentialRejected
from proxy.pool.manager import Account

MAX_BODY = 64 * 1024


def _json(gateway: Gateway, data: Any) -> web.Response:
    # Secrets never leave in an admin answer (a pasted cookie least of all).
    body = gateway.scrubber.clean(orjson.dumps(data).decode())
    return web.Response(text=body, content_type="application/json")


def _account(request: web.Request, gateway: Gateway) -> Account:
    account_id = request.match_info["id"]
    account = gateway.manager.accounts.get(account_id)
    if account is None:
        raise not_found(f"No account '{account_id}'.", "account_not_found")
    return account


async def _body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise invalid_request(f"The body is larger than {MAX_BODY} bytes.")
    if optional and not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_json("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_request("The body must be a JSON object.")
    return body


def describe(gateway: Gateway, account: Account) -> dict[str, Any]:
    """An account row for the admin API: its state and which credential is in force."""
    configured = next((c for c in gateway.config.accounts if c.id == account.id), account.config)
    return {**gateway.manager.describe(account), **gateway.overrides.describe(configured)}


async def put_credential(request: web.Request) -> web.Response:
    """Replace the account's cookie or API key, on every replica, without a restart."""
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    account = _account(request, gateway)
    body = await _body(request)
    try:
        await gateway.replace_credential(account.id, body)
    except CredentialRejected as exc:
        raise invalid_request(str(exc), exc.field) from None
    return _json(gateway, describe(gateway, gateway.manager.accounts[account.id]))


async def test_account(request: web.Request) -> web.Response:
    """One minimal real request through this account; its outcome applies as any other."""
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    account = _account(request, gateway)
    body = await _body(request, optional=True)
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not account.provider.serves(model)):
        raise invalid_request(f"'model' must be a model account '{account.id}' serves.", "model")
    result = await check_account(gateway.manager, account, model)
    return _json(gateway, result.to_dict())
