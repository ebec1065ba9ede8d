"""Turn a YAML file (or, failing that, the environment) into a `Config`."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import yaml

from proxy.config import budgets, operations
from proxy.config.model import (
    PROVIDER_KINDS,
    AccountConfig,
    Backend,
    ClientConfig,
    Config,
    LoggingConfig,
    MetricsConfig,
    PoolConfig,
    RateLimit,
    Reasoning,
    ServerConfig,
    StateConfig,
    Strategy,
    ToolPolicy,
)
from proxy.config.reader import ConfigError, Reader
from proxy.config.redis_url import parse_target

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "monica": "https://api.monica.im",
    "mammouth": "https://mammouth.ai",
}
_LEVELS = ("debug", "info", "warning", "error", "critical")


def find_config_path(explicit: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """`--config`, then `$POOL_PROXY_CONFIG`, then `./accounts.yaml` if it exists."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get("POOL_PROXY_CONFIG"):
        return Path(env["POOL_PROXY_CONFIG"])
    default = Path("accounts.yaml")
    return default if default.exists() else None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Parse the file at `path`, or build a config from environment variables."""
    if path is None:
        return config_from_env(os.environ if env is None else env)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    return parse_config(raw, source=str(path), base_dir=path.parent)


def parse_config(raw: object, *, source: str = "inline", base_dir: Path | None = None) -> Config:
    errors: list[str] = []
    root = Reader(raw, "", errors)
    server = _server(root.child("server"))
    admin_key = root.text("admin_key")
    clients = _clients(root, errors)
    aliases = _aliases(root.child("model_aliases"))
    pool = _pool(root.child("pool"))
    accounts = [_account(r) for r in root.items("accounts")]
    accounts_file = root.text("accounts_file")
    if accounts_file:
        file_path = Path(accounts_file)
        if base_dir is not None and not file_path.is_absolute():
            file_path = base_dir / file_path
        accounts_file = str(file_path)
        accounts += read_accounts_file(file_path, errors)
    _check_unique([a.id for a in accounts], "accounts", "id", errors)
    state = _state(root.child("state"))
    metrics = _metrics(root.child("metrics"))
    logging = _logging(root.child("logging"))
    fallbacks = operations.model_fallbacks(root.child("model_fallbacks"))
    notify = operations.notify(root.child("notify"))
    prices = budgets.prices(root.child("prices"))
    root.done()
    if errors:
        raise ConfigError(errors)
    return Config(
        server=server,
        admin_key=admin_key,
        clients=tuple(clients),
        model_aliases=aliases,
        pool=pool,
        accounts=tuple(accounts),
        accounts_file=accounts_file,
        state=state,
        metrics=metrics,
        logging=logging,
        model_fallbacks=fallbacks,
        notify=notify,
        prices=prices,
        source=source,
    )


def read_accounts_file(path: Path, errors: list[str]) -> list[AccountConfig]:
    """Accounts from a separate file: a list, or a mapping with an `accounts` list."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        errors.append(f"accounts_file: {path} not found")
        return []
    except yaml.YAMLError as exc:
        errors.append(f"accounts_file: {path} is not valid YAML: {exc}")
        return []
    holder = Reader({"accounts": raw} if isinstance(raw, list) else raw, "", errors)
    accounts = [_account(r) for r in holder.items("accounts")]
    holder.done()
    return accounts


def _server(r: Reader) -> ServerConfig:
    d = ServerConfig()
    origins = r.str_list("cors_origins")
    server = ServerConfig(
        host=r.text("host", d.host) or d.host,
        port=r.integer("port", d.port, minimum=0),
        max_body=r.size("max_body", d.max_body),
        cors_origins=origins or (),
        shutdown_grace=r.duration("shutdown_grace", d.shutdown_grace),
        allow_private_fetch=r.flag("allow_private_fetch", d.allow_private_fetch),
    )
    if server.port > 65535:
        r.error(r.key("port"), "must be at most 65535")
    r.done()
    return server


def rate_limit(r: Reader, name: str) -> RateLimit | None:
    if not r.has(name):
        r.seen.add(name)
        return None
    sub = r.child(name)
    rps, rpm = sub.number("rps"), sub.number("rpm")
    burst = sub.integer("burst", 0) if sub.has("burst") else None
    sub.done()
    if sub.has("rps") == sub.has("rpm"):
        sub.error(sub.path, "give exactly one of rps or rpm")
        return None
    if rps is None and rpm is None:
        return None  # the value given was wrong, and said so
    rate = rps if rps is not None else cast(float, rpm) / 60.0
    per_unit = rps if rps is not None else cast(float, rpm)
    return RateLimit(rate=rate, burst=burst or max(1, math.ceil(per_unit)))


def _clients(root: Reader, errors: list[str]) -> list[ClientConfig]:
    clients = []
    for r in root.items("clients"):
        name = r.text("name", required=True) or ""
        key = r.text("key", required=True) or ""
        clients.append(
            ClientConfig(
                name=name,
                key=key,
                rate_limit=rate_limit(r, "rate_limit"),
                models=r.str_list("models"),
                budget=budgets.budget(r),
                expires_at=budgets.expires_at(r),
            )
        )
        r.done()
    _check_unique([c.name for c in clients if c.name], "clients", "name", errors)
    keys = [c.key for c in clients if c.key]
    if len(set(keys)) != len(keys):
        errors.append("clients: two clients share one key")
    return clients


def _aliases(r: Reader) -> dict[str, str]:
    aliases = {}
    for name in list(r.raw):
        target = r.text(str(name))
        if target:
            aliases[str(name)] = target
    return aliases


def _pool(r: Reader) -> PoolConfig:
    d = PoolConfig()
    pool = PoolConfig(
        strategy=cast(Strategy, r.choice("strategy", d.strategy, Strategy.__args__)),  # type: ignore[attr-defined]
        max_attempts=r.integer("max_attempts", d.max_attempts),
        queue_timeout=r.duration("queue_timeout", d.queue_timeout),
        cooldown=r.duration("cooldown", d.cooldown),
        cooldown_max=r.duration("cooldown_max", d.cooldown_max),
        failure_threshold=r.integer("failure_threshold", d.failure_threshold),
        exhausted_for=r.duration("exhausted_for", d.exhausted_for),
        first_byte_timeout=r.duration("first_byte_timeout", d.first_byte_timeout),
        stream_idle_timeout=r.duration("stream_idle_timeout", d.stream_idle_timeout),
        unsupported_tools=cast(
            ToolPolicy,
            r.choice("unsupported_tools", d.unsupported_tools, ToolPolicy.__args__),  # type: ignore[attr-defined]
        ),
        health_check=operations.health_check(r.child("health_check")),
        sticky=operations.sticky(r.child("sticky")),
        budget_timezone=budgets.timezone(r),
    )
    if pool.cooldown_max < pool.cooldown:
        r.error(r.key("cooldown_max"), "must be at least pool.cooldown")
    r.done()
    return pool


def _account(r: Reader) -> AccountConfig:
    account_id = r.text("id", required=True) or ""
    provider = r.choice("provider", "", PROVIDER_KINDS)
    account = AccountConfig(
        id=account_id,
        provider=provider,
        base_url=(r.text("base_url") or DEFAULT_BASE_URLS.get(provider, "")).rstrip("/") or None,
        cookie=r.text("cookie"),
        api_key=r.text("api_key"),
        custom_bot_uid=r.text("custom_bot_uid"),
        reasoning=cast(Reasoning, r.choice("reasoning", "content", ("content", "think_tags"))),
        rate_limit=rate_limit(r, "rate_limit"),
        max_concurrency=r.integer("max_concurrency", 0) or None,
        models=r.str_list("models"),
        weight=r.integer("weight", 1),
        tls_verify=r.flag("tls_verify", True),
        budget=budgets.budget(r),
    )
    if provider in ("monica", "mammouth") and not account.cookie:
        r.error(r.key("cookie"), f"is required for provider {provider}")
    if provider == "openai" and not account.api_key:
        r.error(r.key("api_key"), "is required for provider openai")
    if account.base_url and not account.base_url.startswith(("http://", "https://")):
        r.error(r.key("base_url"), "must start with http:// or https://")
    r.done()
    return account


def _state(r: Reader) -> StateConfig:
    d = StateConfig()
    state = StateConfig(
        backend=cast(Backend, r.choice("backend", d.backend, ("memory", "redis"))),
        path=r.text("path", d.path) or d.path,
        redis_url=r.text("redis_url", d.redis_url) or d.redis_url,
        key_prefix=r.text("key_prefix", d.key_prefix) or d.key_prefix,
        redis_timeout=r.duration("redis_timeout", d.redis_timeout),
        sentinel_master=r.text("sentinel_master"),
        lease_ttl=r.duration("lease_ttl", d.lease_ttl),
    )
    if state.lease_ttl <= 0:
        r.error(r.key("lease_ttl"), "must be a positive duration")
    if not state.redis_url.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://")):
        r.error(r.key("redis_url"), "must be a redis://, rediss://, unix:// or redis+sentinel:// URL")
    elif state.backend == "redis":
        try:
            parse_target(state.redis_url, state.sentinel_master)
        except ValueError as exc:
            r.error(r.key("redis_url"), str(exc))
    r.done()
    return state


def _metrics(r: Reader) -> MetricsConfig:
    metrics = MetricsConfig(enabled=r.flag("enabled", True), protect=r.flag("protect", False))
    r.done()
    return metrics


def _logging(r: Reader) -> LoggingConfig:
    d = LoggingConfig()
    logging = LoggingConfig(
        level=r.choice("level", d.level, _LEVELS),
        format=cast(Any, r.choice("format", d.format, ("json", "text"))),
        file=r.text("file"),
        log_bodies=r.flag("log_bodies", d.log_bodies),
        body_max=r.integer("body_max", d.body_max),
        max_bytes=r.size("max_bytes", d.max_bytes),
        backups=r.integer("backups", d.backups, minimum=0),
    )
    r.done()
    return logging


def _check_unique(values: list[str], where: str, field: str, errors: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            errors.append(f"{where}: {field} {value!r} is used twice")
        seen.add(value)


def config_from_env(env: Mapping[str, str]) -> Config:
    """Env-only start for users of monica-proxy, MammouthProxy and MyGPT (DESIGN §4)."""
    raw: dict[str, Any] = {"server": {}, "accounts": [], "clients": [], "logging": {}}
    named: dict[str, str] = {}  # key path -> the variable it came from, for the errors
    for i, cookie in enumerate(_split(env.get("MONICA_COOKIE", "")), start=1):
        account: dict[str, Any] = {"id": f"monica-{i}", "provider": "monica", "cookie": cookie}
        if env.get("BOT_UID") and env.get("ENABLE_CUSTOM_BOT_MODE", "").lower() == "true":
            account["custom_bot_uid"] = env["BOT_UID"]
        raw["accounts"].append(account)
    mammouth = env.get("MAMMOUTH_COOKIES") or env.get("COOKIES", "")
    for i, cookie in enumerate(_split(mammouth), start=1):
        raw["accounts"].append({"id": f"mammouth-{i}", "provider": "mammouth", "cookie": cookie})
    for i, key in enumerate(_split(env.get("OPENAI_API_KEY", "")), start=1):
        openai: dict[str, Any] = {"id": f"openai-{i}", "provider": "openai", "api_key": key}
        if env.get("OPENAI_BASE_URL"):
            openai["base_url"] = env["OPENAI_BASE_URL"]
            named[f"accounts[{len(raw['accounts'])}].base_url"] = "OPENAI_BASE_URL"
        raw["accounts"].append(openai)
    source = "environment"
    if not raw["accounts"]:
        raw["accounts"].append({"id": "demo", "provider": "demo"})
        source = "demo"
    token = env.get("BEARER_TOKEN") or env.get("AUTH_TOKEN")
    if token:
        client: dict[str, Any] = {"name": "default", "key": token}
        if env.get("RATE_LIMIT_RPS", "0") not in ("", "0"):
            client["rate_limit"] = {"rps": env["RATE_LIMIT_RPS"]}
            named["clients[0].rate_limit.rps"] = "RATE_LIMIT_RPS"
        raw["clients"].append(client)
    if env.get("POOL_PROXY_ADMIN_KEY"):
        raw["admin_key"] = env["POOL_PROXY_ADMIN_KEY"]
    for key, names in (("host", ("SERVER_HOST", "HOST")), ("port", ("SERVER_PORT", "PORT"))):
        name = next((n for n in names if env.get(n)), None)
        if name:
            raw["server"][key], named[f"server.{key}"] = env[name], name
    if env.get("LOG_LEVEL"):
        level = env["LOG_LEVEL"].lower()
        raw["logging"]["level"] = "warning" if level == "warn" else level
        named["logging.level"] = "LOG_LEVEL"
    if env.get("REDIS_URL"):
        raw["state"] = {"backend": "redis", "redis_url": env["REDIS_URL"]}
        named["state.redis_url"] = "REDIS_URL"
    try:
        return parse_config(raw, source=source)
    except ConfigError as exc:  # the user set PORT, not server.port: name what they wrote
        raise ConfigError([_name_variable(error, named) for error in exc.errors]) from None


def _name_variable(error: str, named: Mapping[str, str]) -> str:
    path, _, message = error.partition(": ")
    return f"{named[path]} ({path}): {message}" if path in named else error


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def with_generated_client(config: Config) -> tuple[Config, str | None]:
    """A config without clients gets one generated key, so /v1 is never open by accident."""
    if config.clients:
        return config, None
    key = "sk-pool-" + secrets.token_urlsafe(24)
    client = ClientConfig(name="default", key=key)
    return replace(config, clients=(client,)), key
