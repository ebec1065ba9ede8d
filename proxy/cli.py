"""`pool-proxy serve` and `pool-proxy check` (DESIGN §3)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from dataclasses import replace
from typing import Any

from aiohttp import web

from proxy import __version__
from proxy.app import create_app
from proxy.config import Config, ConfigError, find_config_path, load_config, with_generated_client
from proxy.config.aliases import is_glob
from proxy.config.values import mask
from proxy.http.keys import GATEWAY, STREAMS
from proxy.logs import setup_logging

log = logging.getLogger("pool_proxy")

GC_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pool-proxy", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pool-proxy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="config file (default: $POOL_PROXY_CONFIG, ./accounts.yaml)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    check = commands.add_parser("check", help="validate the config and print the pool")
    check.add_argument("--config")
    args = parser.parse_args(argv)
    try:
        config = load_config(find_config_path(args.config))
    except ConfigError as exc:
        print(f"pool-proxy: the configuration has {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    if args.command == "check":
        return _check(config)
    server = config.server
    config = replace(
        config, server=replace(server, host=args.host or server.host, port=args.port or server.port)
    )
    return _serve(config)


def _check(config: Config) -> int:
    print(f"config OK ({config.source}): {len(config.accounts)} account(s), {len(config.clients)} client(s)")
    for account in config.accounts:
        models = ", ".join(account.models) if account.models else "(provider default)"
        credential = mask(account.secret) or "-"
        print(f"  {account.id:<20} {account.provider:<9} {credential:<10} models: {models}")
    for alias, target in config.model_aliases.items():
        print(f"  alias {alias} -> {target}{'  (glob)' if is_glob(alias) else ''}")
    return 0


def _serve(config: Config) -> int:
    config, generated = with_generated_client(config)
    setup_logging(config.logging, config.secrets())
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is optional off Linux
        pass
    if config.source == "demo":
        log.warning(
            "no accounts configured: serving the built-in demo provider (synthetic answers); "
            "write accounts.yaml (see accounts.example.yaml) or set account env vars"
        )
    if generated:
        print(
            f"\n  pool-proxy client key (generated for this run): {generated}\n"
            f"  base_url: http://{config.server.host}:{config.server.port}/v1\n",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(config)
    app.on_startup.append(_tune_gc)
    app.on_startup.append(_on_sighup_reload)
    app.on_shutdown.append(_drain_streams)
    log.info(
        "pool-proxy listening",
        extra={
            "host": config.server.host,
            "port": config.server.port,
            "accounts": len(config.accounts),
            "state_backend": config.state.backend,
            "config": config.source,
        },
    )
    web.run_app(
        app,
        host=config.server.host,
        port=config.server.port,
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=config.server.shutdown_grace + 5,
        print=None,
    )
    return 0


async def _tune_gc(app: web.Application) -> None:
    """Startup objects go to a generation the collector never scans again, and young
    collections run less often: with thousands of open streams a full collection walks
    every live object, which showed up as pauses of the whole event loop."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 50)


async def _on_sighup_reload(app: web.Application) -> None:
    gateway = app[GATEWAY]

    async def reload() -> None:
        try:
            await gateway.reload()
        except ConfigError as exc:
            log.error("reload failed; keeping the running config", extra={"errors": exc.errors})

    def on_signal() -> None:
        asyncio.get_running_loop().create_task(reload())

    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_signal)


async def _drain_streams(app: web.Application) -> None:
    grace: Any = app[GATEWAY].config.server.shutdown_grace
    await app[STREAMS].drain(grace)
