"""Configuration: parsed once at the edge into frozen objects."""

from proxy.config.load import (
    find_config_path,
    load_config,
    parse_config,
    read_accounts_file,
    with_generated_client,
)
from proxy.config.model import (
    AccountConfig,
    Budget,
    ClientConfig,
    Config,
    LoggingConfig,
    MetricsConfig,
    PoolConfig,
    Price,
    RateLimit,
    ServerConfig,
    StateConfig,
)
from proxy.config.reader import ConfigError
from proxy.config.values import mask, parse_duration, parse_size

__all__ = [
    "AccountConfig",
    "Budget",
    "ClientConfig",
    "Config",
    "ConfigError",
    "LoggingConfig",
    "MetricsConfig",
    "PoolConfig",
    "Price",
    "RateLimit",
    "ServerConfig",
    "StateConfig",
    "find_config_path",
    "load_config",
    "mask",
    "parse_config",
    "parse_duration",
    "parse_size",
    "read_accounts_file",
    "with_generated_client",
]
