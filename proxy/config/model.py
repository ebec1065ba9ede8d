"""The typed, frozen shape of a parsed configuration (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from proxy.config.values import url_secrets

Strategy = Literal["round_robin", "least_busy", "random"]
ToolPolicy = Literal["emulate", "drop", "reject"]
Reasoning = Literal["content", "think_tags"]
Backend = Literal["memory", "redis"]
Period = Literal["day", "month"]

PROVIDER_KINDS = ("monica", "mammouth", "openai", "demo")


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `rate` tokens per second, at most `burst` saved up."""

    rate: float
    burst: int


@dataclass(frozen=True)
class Budget:
    """How much a client or an account may use per period (None = no limit on that measure)."""

    period: Period = "day"
    requests: int | None = None
    tokens: int | None = None
    usd: float | None = None

    def limits(self) -> dict[str, float]:
        found = {"requests": self.requests, "tokens": self.tokens, "usd": self.usd}
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class Price:
    """USD per million tokens for the models matching `pattern` (a glob)."""

    pattern: str
    input: float
    output: float


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body: int = 20 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    shutdown_grace: float = 30.0
    allow_private_fetch: bool = False


@dataclass(frozen=True)
class ClientConfig:
    name: str
    key: str
    rate_limit: RateLimit | None = None
    models: tuple[str, ...] | None = None  # glob allow-list; None = everything
    budget: Budget | None = None
    expires_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class HealthCheckConfig:
    """Scheduled account tests of resting accounts; off while `every` is None."""

    every: float | None = None
    states: tuple[str, ...] = ("invalid", "exhausted")


@dataclass(frozen=True)
class StickyConfig:
    """Keep one conversation on the account that served its start."""

    enabled: bool = False
    ttl: float = 3600.0


@dataclass(frozen=True)
class NotifyConfig:
    """Where account and pool events are POSTed; off while `webhook` is None."""

    webhook: str | None = None
    events: tuple[str, ...] = ("invalid", "exhausted", "recovered", "pool_empty", "budget")


@dataclass(frozen=True)
class PoolConfig:
    strategy: Strategy = "round_robin"
    max_attempts: int = 3
    queue_timeout: float = 5.0
    cooldown: float = 60.0
    cooldown_max: float = 3600.0
    failure_threshold: int = 3
    exhausted_for: float = 86400.0
    first_byte_timeout: float = 60.0
    stream_idle_timeout: float = 120.0
    unsupported_tools: ToolPolicy = "emulate"  # prompt-based tool calling (proxy/tools)
    health_check: HealthCheckConfig = field(default_factory=HealthCheckConfig)
    sticky: StickyConfig = field(default_factory=StickyConfig)
    budget_timezone: str = "UTC"  # budget periods start at midnight (or the 1st) here


@dataclass(frozen=True)
class AccountConfig:
    id: str
    provider: str
    base_url: str | None = None
    cookie: str | None = None
    api_key: str | None = None
    custom_bot_uid: str | None = None
    reasoning: Reasoning = "content"
    rate_limit: RateLimit | None = None
    max_concurrency: int | None = None
    models: tuple[str, ...] | None = None  # None = the provider's own table
    weight: int = 1
    tls_verify: bool = True
    budget: Budget | None = None

    @property
    def secret(self) -> str:
        """The credential, whichever kind this provider uses ('' when none)."""
        return self.cookie or self.api_key or ""


@dataclass(frozen=True)
class StateConfig:
    backend: Backend = "memory"
    path: str = "state.json"
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "pool-proxy:"
    redis_timeout: float = 0.1
    sentinel_master: str | None = None
    lease_ttl: float = 30.0  # a crashed replica's concurrency leases expire after this


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    protect: bool = False


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    format: Literal["json", "text"] = "json"
    file: str | None = None
    log_bodies: bool = False
    body_max: int = 2000
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5


PLACEHOLDER = "change-me"  # what accounts.example.yaml's default keys contain


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    admin_key: str | None = None
    clients: tuple[ClientConfig, ...] = ()
    model_aliases: dict[str, str] = field(default_factory=dict)
    pool: PoolConfig = field(default_factory=PoolConfig)
    accounts: tuple[AccountConfig, ...] = ()
    accounts_file: str | None = None
    state: StateConfig = field(default_factory=StateConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    model_fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    prices: tuple[Price, ...] = ()
    source: str = "defaults"  # a file path, "environment" or "demo"

    def placeholder_keys(self) -> list[str]:
        """Keys still set to accounts.example.yaml's `change-me` values: anyone who has read
        that file can use them, so `check` and `serve` say so."""
        found = ["admin_key"] if self.admin_key and PLACEHOLDER in self.admin_key else []
        found += [f"clients[{i}].key" for i, c in enumerate(self.clients) if PLACEHOLDER in c.key]
        return found

    def secrets(self) -> list[str]:
        """Every configured secret, for log scrubbing and tests."""
        found = [c.key for c in self.clients] + [a.secret for a in self.accounts]
        found += [s for a in self.accounts for s in url_secrets(a.base_url)]
        found += url_secrets(self.state.redis_url)
        if self.notify.webhook:  # a Slack or Discord hook URL is itself the credential
            found.append(self.notify.webhook)
        if self.admin_key:
            found.append(self.admin_key)
        return [s for s in found if s]
