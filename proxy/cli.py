"""`pool-proxy serve` and `pool-proxy check` (DESIGN §3)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from dataclasses import replace

from aiohttp import web, web_response

from proxy import __version__
from proxy.app import SERVER, create_app
from proxy.config import Config, ConfigError, find_config_path, load_config, with_generated_client
from proxy.config.aliases import is_glob
from proxy.config.values import mask
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
    check.add_argument(
        "--probe", action="store_true", help="also send one real test request through every account"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(find_config_path(args.config))
    except ConfigError as exc:
        print(f"pool-proxy: the configuration has {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    if args.command == "check":
        status = _check(config)
        return status or (asyncio.run(_probe(config)) if args.probe else 0)
    server = config.server
    config = replace(
        config, server=replace(server, host=args.host or server.host, port=args.port or server.port)
    )
    return _serve(config)


def _check(config: Config) -> int:
    print(f"config OK ({config.source}): {len(config.accounts)} account(s), {len(config.clients)} client(s)")
    for account in config.accounts:
        models = ", ".join(account.models) if account.models else _default_models(account.provider)
        credential = mask(account.secret) or "-"
        print(f"  {account.id:<20} {account.provider:<9} {credential:<10} models: {models}")
    for alias, target in config.model_aliases.items():
        print(f"  alias {alias} -> {target}{'  (glob)' if is_glob(alias) else ''}")
    if config.placeholder_keys():
        print(f"\nwarning: {_placeholder_warning(config)}")
    return 0


def _placeholder_warning(config: Config) -> str:
    keys = config.placeholder_keys()
    return (
        f"{', '.join(keys)} {'is' if len(keys) == 1 else 'are'} still the example's change-me "
        "value, which anyone who has read accounts.example.yaml can use: set real keys "
        "(e.g. POOL_PROXY_ADMIN_KEY)"
    )


def _default_models(provider: str) -> str:
    if provider == "openai":  # no table of its own: an operator should know it asks the upstream
        return "(listed by the upstream's GET /models at start)"
    return "(the provider's model table)"


async def _probe(config: Config) -> int:
    """The account test on every account, as a table; 1 if any account failed it."""
    from proxy.gateway import Gateway
    from proxy.pool.checkup import check_account
    from proxy.state.memory import MemoryStore

    setup_logging(replace(config.logging, level="error", file=None), config.secrets())
    gateway = Gateway(config)
    if isinstance(gateway.store, MemoryStore):
        gateway.store.read_only = True  # the running gateway owns the snapshot file
    await gateway.start()
    try:
        accounts = list(gateway.manager.accounts.values())
        results = await asyncio.gather(*(check_account(gateway.manager, a) for a in accounts))
    finally:
        await gateway.close()
    print(f"\n  {'account':<20} {'provider':<9} {'outcome':<16} {'latency':>8}  reason")
    for account, result in zip(accounts, results, strict=True):
        latency = f"{result.latency_ms} ms" if result.latency_ms is not None else "-"
        print(
            f"  {account.id:<20} {account.config.provider:<9} {result.outcome:<16} {latency:>8}  "
            f"{result.reason}"
        )
    failed = [r.account for r in results if not r.ok]
    print(
        f"\n{len(results) - len(failed)} of {len(results)} account(s) passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


def _serve(config: Config) -> int:
    config, generated = with_generated_client(config)
    setup_logging(config.logging, config.secrets())
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is optional off Linux
        pass
    # create_app names the gateway on every answer of its routes; what aiohttp answers by
    # itself (a request line it cannot parse) takes this process-wide default instead.
    web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined]
    if config.source == "demo":
        log.warning(
            "no accounts configured: serving the built-in demo provider (synthetic answers); "
            "write accounts.yaml (see accounts.example.yaml) or set account env vars"
        )
    if config.placeholder_keys():
        log.warning(_placeholder_warning(config))
    if generated:
        print(
            f"\n  pool-proxy client key (generated for this run): {generated}\n"
            f"  base_url: http://{config.server.host}:{config.server.port}/v1\n",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(config)
    app.on_startup.append(_tune_gc)
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
