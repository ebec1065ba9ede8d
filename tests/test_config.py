"""The config loader: every key of DESIGN §4, errors with their key paths, env-only start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxy.config import ConfigError, load_config, parse_config
from proxy.config.load import config_from_env

GOOD_ACCOUNT = {"id": "a1", "provider": "openai", "api_key": "sk-a1-secret-key"}


def errors_of(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return info.value.errors


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"bogus": 1}, "bogus: unknown key"),
        ({"server": {"port": "http"}}, "server.port: "),
        ({"server": {"port": 70000}}, "server.port: must be at most 65535"),
        ({"server": {"max_body": "lots"}}, "server.max_body: must be a size"),
        ({"server": {"shutdown_grace": "soon"}}, "server.shutdown_grace: must be a duration"),
        ({"server": {"cors_origins": 5}}, "server.cors_origins: must be a list of strings"),
        ({"pool": {"strategy": "fastest"}}, "pool.strategy: must be one of round_robin, least_busy, random"),
        ({"pool": {"max_attempts": 0}}, "pool.max_attempts: must be at least 1"),
        ({"pool": {"cooldown": "-5s"}}, "pool.cooldown: must be a duration"),
        (
            {"pool": {"cooldown": "2h", "cooldown_max": "1h"}},
            "pool.cooldown_max: must be at least pool.cooldown",
        ),
        (
            {"pool": {"unsupported_tools": "ignore"}},
            "pool.unsupported_tools: must be one of emulate, drop, reject",
        ),
        ({"pool": {"failure_threshold": 1.5}}, "pool.failure_threshold: must be a whole number"),
        ({"accounts": [{"provider": "openai", "api_key": "k"}]}, "accounts[0].id: is required"),
        ({"accounts": [{"id": "x", "provider": "bard"}]}, "accounts[0].provider: must be one of"),
        (
            {"accounts": [{"id": "x", "provider": "openai"}]},
            "accounts[0].api_key: is required for provider openai",
        ),
        (
            {"accounts": [{"id": "x", "provider": "monica"}]},
            "accounts[0].cookie: is required for provider monica",
        ),
        (
            {"accounts": [GOOD_ACCOUNT, {**GOOD_ACCOUNT, "rate_limit": {"rpm": -1}}]},
            "accounts[1].rate_limit.rpm: must be a positive number",
        ),
        (
            {"accounts": [{**GOOD_ACCOUNT, "rate_limit": {"rps": 1, "rpm": 60}}]},
            "accounts[0].rate_limit: give exactly one of rps or rpm",
        ),
        ({"pool": {"max_attempts": "three"}}, "pool.max_attempts: must be a whole number"),
        ({"pool": {"failure_threshold": [1]}}, "pool.failure_threshold: must be a whole number"),
        ({"prices": {"gpt-*": {"input": "cheap"}}}, "prices.gpt-*.input: must be a positive number"),
        ({"accounts": [GOOD_ACCOUNT, GOOD_ACCOUNT]}, "accounts: id 'a1' is used twice"),
        (
            {"accounts": [{**GOOD_ACCOUNT, "base_url": "ftp://x"}]},
            "accounts[0].base_url: must start with http",
        ),
        ({"accounts": [{**GOOD_ACCOUNT, "weight": 0}]}, "accounts[0].weight: must be at least 1"),
        ({"accounts": [{**GOOD_ACCOUNT, "colour": "red"}]}, "accounts[0].colour: unknown key"),
        ({"accounts": {"id": "x"}}, "accounts: must be a list"),
        ({"clients": [{"name": "a"}]}, "clients[0].key: is required"),
        (
            {"clients": [{"name": "a", "key": "k1"}, {"name": "a", "key": "k2"}]},
            "clients: name 'a' is used twice",
        ),
        (
            {"clients": [{"name": "a", "key": "k"}, {"name": "b", "key": "k"}]},
            "clients: two clients share one key",
        ),
        ({"state": {"backend": "etcd"}}, "state.backend: must be one of memory, redis"),
        ({"state": {"redis_url": "http://x"}}, "state.redis_url: must be a redis://"),
        ({"logging": {"level": "loud"}}, "logging.level: must be one of"),
        ({"logging": {"format": "xml"}}, "logging.format: must be one of json, text"),
        ({"metrics": {"protect": "maybe"}}, "metrics.protect: must be true or false"),
        (
            {"admin_key": "${POOL_PROXY_TEST_UNSET_VAR}"},
            "admin_key: environment variable POOL_PROXY_TEST_UNSET_VAR",
        ),
    ],
)
def test_bad_config_names_the_key(raw: dict[str, Any], expected: str) -> None:
    found = errors_of(raw)
    assert any(e.startswith(expected) for e in found), found


def test_every_error_is_reported_at_once() -> None:
    found = errors_of({"bogus": 1, "pool": {"strategy": "x"}, "accounts": [{"id": "x"}]})
    assert len(found) == 3


def test_a_mistyped_limit_is_one_error_in_plain_words() -> None:
    found = errors_of(
        {"clients": [{"name": "a", "key": "k", "rate_limit": {"rpm": "lots"}, "budget": {"tokens": "x"}}]}
    )
    assert found == [
        "clients[0].rate_limit.rpm: must be a positive number",
        "clients[0].budget.tokens: must be a whole number",
    ]


def test_durations_sizes_and_defaults() -> None:
    config = parse_config(
        {
            "server": {"max_body": "1MB", "shutdown_grace": "500ms"},
            "pool": {"cooldown": "5m", "exhausted_for": "24h", "queue_timeout": 2},
            "accounts": [{**GOOD_ACCOUNT, "rate_limit": {"rpm": 20}}],
        }
    )
    assert config.server.max_body == 1024 * 1024
    assert config.server.shutdown_grace == 0.5
    assert config.pool.cooldown == 300
    assert config.pool.exhausted_for == 86400
    assert config.pool.queue_timeout == 2
    limit = config.accounts[0].rate_limit
    assert limit is not None and limit.burst == 20 and abs(limit.rate - 20 / 60) < 1e-9
    assert config.accounts[0].base_url == "https://api.openai.com/v1"


def test_env_interpolation_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PP_TEST_KEY", "sk-from-env")
    config = parse_config(
        {
            "accounts": [{"id": "a", "provider": "openai", "api_key": "${PP_TEST_KEY}"}],
            "state": {"path": "${PP_TEST_MISSING:-/tmp/x.json}"},
        }
    )
    assert config.accounts[0].api_key == "sk-from-env"
    assert config.state.path == "/tmp/x.json"


def test_accounts_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "more.yaml").write_text("- {id: b1, provider: openai, api_key: sk-b1}\n")
    (tmp_path / "main.yaml").write_text(
        "accounts_file: more.yaml\naccounts:\n  - {id: a1, provider: openai, api_key: sk-a1}\n"
    )
    config = load_config(tmp_path / "main.yaml")
    assert [a.id for a in config.accounts] == ["a1", "b1"]


def test_env_only_start_for_old_proxy_users() -> None:
    config = config_from_env(
        {
            "OPENAI_API_KEY": "sk-one,sk-two",
            "OPENAI_BASE_URL": "https://www.dmxapi.com/v1",
            "BEARER_TOKEN": "client-token",
            "RATE_LIMIT_RPS": "5",
            "PORT": "8000",
            "HOST": "0.0.0.0",
            "LOG_LEVEL": "WARN",
        }
    )
    assert [a.id for a in config.accounts] == ["openai-1", "openai-2"]
    assert config.accounts[1].base_url == "https://www.dmxapi.com/v1"
    assert config.clients[0].key == "client-token"
    assert config.clients[0].rate_limit is not None and config.clients[0].rate_limit.rate == 5
    assert (config.server.host, config.server.port) == ("0.0.0.0", 8000)
    assert config.logging.level == "warning"
    assert config.source == "environment"


def test_env_only_errors_name_the_variable_that_was_set() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_env(
            {"OPENAI_API_KEY": "sk-one", "BEARER_TOKEN": "t", "RATE_LIMIT_RPS": "fast", "PORT": "http"}
        )
    assert info.value.errors == [
        "PORT (server.port): must be a whole number",
        "RATE_LIMIT_RPS (clients[0].rate_limit.rps): must be a positive number",
    ]


def test_no_config_and_no_env_means_demo() -> None:
    config = config_from_env({})
    assert config.source == "demo"
    assert [a.provider for a in config.accounts] == ["demo"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args], cwd=cwd, capture_output=True, text=True, timeout=30
    )


def test_check_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        "  - {id: a, provider: openai, api_key: sk-supersecretvalue, rate_limit: {rpm: -1}}\n"
        "  - {id: b, provider: monica}\n"
        "pool: {cooldown: never}\n"
    )
    result = run_cli("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "accounts[0].rate_limit.rpm: must be a positive number" in result.stderr
    assert "accounts[1].cookie: is required for provider monica" in result.stderr
    assert "pool.cooldown: must be a duration" in result.stderr
    assert "sk-supersecretvalue" not in result.stdout + result.stderr


def test_check_prints_the_pool_with_masked_credentials(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n  - {id: main, provider: openai, api_key: sk-supersecretvalue, models: [gpt-4o]}\n"
        "  - {id: other, provider: openai, api_key: sk-othersecretvalue}\n"
        "  - {id: web, provider: mammouth, cookie: abcdefgh}\n"
    )
    result = run_cli("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "main" in result.stdout and "openai" in result.stdout and "gpt-4o" in result.stdout
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert lines["other"].endswith("models: (listed by the upstream's GET /models at start)")
    assert lines["web"].endswith("models: (the provider's model table)")
    assert "sk-supersecretvalue" not in result.stdout
    assert "sk-s…ue" in result.stdout


def test_check_warns_when_keys_are_still_the_examples_placeholders(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "accounts.example.yaml"
    (tmp_path / "accounts.yaml").write_text(example.read_text())
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: admin_key, clients[0].key, clients[1].key are still the example's change-me" in (
        result.stdout
    )
    (tmp_path / "accounts.yaml").write_text(
        "admin_key: a-real-admin-key-0123\nclients: [{name: a, key: sk-a-real-key-0123}]\n"
        "accounts: [{id: d, provider: demo}]\n"
    )
    assert "warning" not in run_cli("check", cwd=tmp_path).stdout


def test_example_config_is_valid_and_shows_every_key() -> None:
    import dataclasses

    import yaml

    from proxy.config import model

    example = Path(__file__).parent.parent / "accounts.example.yaml"
    config = load_config(example)
    assert {a.provider for a in config.accounts} == {"openai", "monica", "mammouth", "demo"}
    raw = yaml.safe_load(example.read_text())

    def keys(entries: Any) -> set[str]:
        """The keys written in a section (a mapping, or a list of mappings), by YAML's reading."""
        rows = entries if isinstance(entries, list) else [entries]
        return {key for row in rows for key in row}

    sections = {
        "server": model.ServerConfig,
        "clients": model.ClientConfig,
        "pool": model.PoolConfig,
        "accounts": model.AccountConfig,
        "state": model.StateConfig,
        "metrics": model.MetricsConfig,
        "logging": model.LoggingConfig,
        "notify": model.NotifyConfig,
    }
    missing = [
        f"{name}.{f.name}"
        for name, section in sections.items()
        for f in dataclasses.fields(section)
        if f.name not in keys(raw[name])
    ]
    assert missing == []
