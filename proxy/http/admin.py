"""`/admin/*`: the pool for operators (admin key), and `/metrics`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proxy.config import ConfigError
from proxy.core.errors import ErrorKind, GatewayError
from proxy.errors import invalid_request, not_found
from proxy.gateway import Gateway
from proxy.http.account_ops import describe
from proxy.http.auth import require_admin
from proxy.http.keys import GATEWAY, STREAMS
from proxy.state.base import USAGE_FIELDS

ACTIONS = ("enable", "disable", "reset")
GROUPS = {"client": "client", "account": "account", "model": "model"}
MAX_USAGE_DAYS = 366  # one request must not walk decades of days on the event loop


def _json(gateway: Gateway, data: Any, status: int = 200) -> web.Response:
    # Secrets never leave in an admin answer, even inside a field such as a base_url.
    body = gateway.scrubber.clean(orjson.dumps(data).decode())
    return web.Response(status=status, text=body, content_type="application/json")


async def accounts(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    rows = [describe(gateway, a) for a in gateway.manager.accounts.values()]
    return _json(
        gateway,
        {
            "object": "list",
            "data": rows,
            "now": gateway.clock.now(),
            "open_streams": len(request.app[STREAMS].open),
            "degraded": gateway.store.degraded,
        },
    )


async def account_action(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    account_id, action = request.match_info["id"], request.match_info["action"]
    if action not in ACTIONS:
        raise not_found()
    account = gateway.manager.accounts.get(account_id)
    if account is None:
        raise not_found(f"No account '{account_id}'.", "account_not_found")
    await gateway.manager.set_state(account_id, action)
    return _json(gateway, describe(gateway, account))


async def reload(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    try:
        result = await gateway.reload()
    except ConfigError as exc:
        message = "; ".join(exc.errors)
        raise GatewayError(400, ErrorKind.INVALID_REQUEST, message, code="invalid_config") from None
    return _json(gateway, {"reloaded": True, **result})


def _day(value: str | None, default: date, name: str) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid_request(f"'{name}' must be a date like 2026-01-31.", name) from None


async def usage(request: web.Request) -> web.Response:
    """Requests and tokens per client, account or model, per UTC day."""
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    today = datetime.fromtimestamp(gateway.clock.now(), UTC).date()
    first = _day(request.query.get("from"), today, "from")
    last = _day(request.query.get("to"), max(first, today), "to")
    if last < first:
        raise invalid_request("'to' must not be before 'from'.", "to")
    if (last - first).days >= MAX_USAGE_DAYS:
        raise invalid_request(f"Ask for at most {MAX_USAGE_DAYS} days at a time.", "from")
    group = request.query.get("group_by", "client")
    if group not in GROUPS:
        raise invalid_request("'group_by' must be client, account or model.", "group_by")
    table = await gateway.store.usage(first.isoformat(), last.isoformat())
    rows: list[dict[str, Any]] = []
    day = first
    while day <= last:
        for name, counts in sorted(table.get(day.isoformat(), {}).get(group, {}).items()):
            row = {"day": day.isoformat(), group: name, **{f: counts.get(f, 0) for f in USAGE_FIELDS}}
            rows.append({**row, "usd": counts.get("usd_nanos", 0) / 1_000_000_000})
        day += timedelta(days=1)
    totals: dict[str, float] = {f: sum(int(r[f]) for r in rows) for f in USAGE_FIELDS}
    totals["usd"] = totals["usd_nanos"] / 1_000_000_000
    return _json(
        gateway,
        {
            "object": "list",
            "from": first.isoformat(),
            "to": last.isoformat(),
            "group_by": group,
            "data": rows,
            "totals": totals,
        },
    )


async def activity(request: web.Request) -> web.Response:
    """Requests and failures per minute over the last hour (dashboard chart)."""
    gateway = request.app[GATEWAY]
    require_admin(request, gateway)
    now_minute = int(gateway.clock.now() // 60)
    since = now_minute - 59
    counts = await gateway.store.minutes(since)
    series = [
        {
            "minute": m * 60,
            "requests": counts.get(m, (0, 0))[0],
            "failures": counts.get(m, (0, 0))[1],
        }
        for m in range(since, now_minute + 1)
    ]
    return _json(gateway, {"object": "list", "data": series})


async def dashboard(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    if not gateway.config.admin_key:
        raise not_found()
    page = resources.files("proxy").joinpath("static/dashboard.html").read_bytes()
    return web.Response(
        body=page,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP},
    )


_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:"  # data: for the inline favicon
)


async def metrics(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    if gateway.metrics is None:
        raise not_found("Metrics are disabled.")
    if gateway.config.metrics.protect:
        require_admin(request, gateway)
    body = generate_latest(gateway.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
