"""`create_app(config) -> web.Application`: routes, middleware, startup and cleanup.

Everything a running gateway needs is wired here, not in the command line, so an app
embedded with `web.AppRunner` behaves like `pool-proxy serve`: SIGHUP reloads the
config, and shutdown lets open streams finish within `server.shutdown_grace`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from proxy.clock import Clock
from proxy.config import Config
from proxy.doors.anthropic import handlers as anthropic
from proxy.doors.anthropic.door import MESSAGES
from proxy.doors.openai import CHAT
from proxy.doors.responses import RESPONSES
from proxy.gateway import Gateway
from proxy.http import account_ops, admin, clients, embeddings, health, images, me, models
from proxy.http.callers import callers
from proxy.http.conversation import conversation
from proxy.http.keys import GATEWAY, STREAMS
from proxy.http.middleware import edge
from proxy.http.streams import OpenStreams
from proxy.sighup import reload_on_sighup

SERVER = "pool-proxy"  # not aiohttp's default, which tells every caller the versions it runs


def create_app(config: Config, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        middlewares=[edge(config.server.cors_origins), callers],
        client_max_size=config.server.max_body,
    )
    app[GATEWAY] = Gateway(config, clock)
    app[STREAMS] = OpenStreams()
    add_routes(app)
    app.on_response_prepare.append(_server_header)
    app.cleanup_ctx.append(_lifecycle)
    app.cleanup_ctx.append(reload_on_sighup)
    app.on_shutdown.append(_drain_streams)
    return app


def add_routes(app: web.Application) -> None:
    for prefix in ("/v1", ""):  # clients configured without /v1 work too
        app.router.add_post(f"{prefix}/chat/completions", conversation(CHAT))
        app.router.add_post(f"{prefix}/messages", conversation(MESSAGES))
        app.router.add_post(f"{prefix}/messages/count_tokens", anthropic.count_tokens)
        app.router.add_get(f"{prefix}/models", models.list_models)
        app.router.add_get(f"{prefix}/models/{{model:.+}}", models.get_model)
        app.router.add_post(f"{prefix}/images/generations", images.generations)
        app.router.add_post(f"{prefix}/responses", conversation(RESPONSES))
        app.router.add_post(f"{prefix}/embeddings", embeddings.embeddings)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", admin.metrics)
    app.router.add_get("/admin", admin.dashboard)
    app.router.add_get("/admin/accounts", admin.accounts)
    app.router.add_put("/admin/accounts/{id}/credential", account_ops.put_credential)
    app.router.add_post("/admin/accounts/{id}/test", account_ops.test_account)
    app.router.add_post("/admin/accounts/{id}/{action}", admin.account_action)
    app.router.add_post("/admin/reload", admin.reload)
    app.router.add_get("/admin/usage", admin.usage)
    app.router.add_get("/admin/activity", admin.activity)
    clients.add_routes(app)
    me.add_routes(app)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    gateway, streams = app[GATEWAY], app[STREAMS]
    await gateway.start()
    if gateway.metrics is not None:
        gateway.metrics.watch_streams(lambda: len(streams.open))
    yield
    await gateway.close()


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER


async def _drain_streams(app: web.Application) -> None:
    """Runs when the server stops accepting: open streams get the shutdown grace to finish."""
    await app[STREAMS].drain(app[GATEWAY].config.server.shutdown_grace)
