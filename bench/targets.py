"""The gateways under test: how each is configured, started, checked and stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import canned
import procs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LITELLM_VENV = HERE / ".litellm-venv"
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_PREFIX = "bench:"
# LiteLLM's upstream pool holds 500 streams per host by default; the open-streams
# test needs more, so both limits are raised for it (and for the load runs alike).
LITELLM_CONNECTOR_LIMIT = "20000"


@dataclass
class Upstream:
    """Where a target sends its traffic and which model name reaches it."""

    base_url: str
    model: str = canned.MODEL


@dataclass
class Target:
    """A gateway (or nginx itself) that wrk can load."""

    name: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    startup_s: float | None = field(default=None, init=False)

    ready_path = "/healthz"

    @property
    def chat_url(self) -> str:
        return self.url("chat")

    def url(self, door: str) -> str:
        return f"http://127.0.0.1:{self.port}{canned.DOORS[door].path}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self, config: Path) -> list[str]:
        raise NotImplementedError

    def config_text(self, upstream: Upstream) -> str:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def start(self, upstream: Upstream, timeout: float = 60) -> None:
        """Write the config, spawn on the proxy core, wait for ready; sets startup_s."""
        if not procs.port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yaml"
        config.write_text(self.config_text(upstream))
        argv = procs.pinned(procs.PROXY_CPU, self.command(config))
        started = time.monotonic()
        self.proc = procs.spawn(argv, self.workdir / "output.log", self.env())
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        procs.wait_ready(url, self.proc, timeout)
        self.startup_s = time.monotonic() - started

    def stop(self) -> None:
        procs.stop(self.proc)
        self.proc = None

    def log_tail(self, lines: int = 15) -> str:
        log = self.workdir / "output.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class Direct(Target):
    """nginx alone: the floor every gateway adds to."""

    def __init__(self, upstream_port: int, workdir: Path) -> None:
        super().__init__("direct", upstream_port, workdir)

    def start(self, upstream: Upstream, timeout: float = 60) -> None:
        self.startup_s = None  # nothing to start: the fake upstream is already up

    def stop(self) -> None:
        pass


class PoolProxy(Target):
    """pool-proxy from the repo's .venv, with the memory or the redis backend."""

    ready_path = "/readyz"

    def __init__(self, backend: str, port: int, workdir: Path) -> None:
        super().__init__(f"pool-proxy ({backend})", port, workdir)
        self.backend = backend

    def command(self, config: Path) -> list[str]:
        script = ROOT / ".venv" / "bin" / "pool-proxy"
        head = [str(script)] if script.exists() else [str(ROOT / ".venv/bin/python"), "-m", "proxy"]
        return [*head, "serve", "--config", str(config), "--port", str(self.port)]

    def config_text(self, upstream: Upstream) -> str:
        if self.backend == "redis":
            state = {"backend": "redis", "redis_url": REDIS_URL, "key_prefix": REDIS_PREFIX}
        else:
            state = {"backend": "memory", "path": str(self.workdir / "state.json")}
        config = {
            "server": {"host": "127.0.0.1", "port": self.port},
            # auth and a client limit on, set high enough never to trigger
            "clients": [
                {
                    "name": "bench",
                    "key": canned.CLIENT_KEY,
                    "rate_limit": {"rps": 100000, "burst": 100000},
                }
            ],
            "pool": {"strategy": "round_robin"},
            "accounts": [
                {
                    "id": f"up-{i}",
                    "provider": "openai",
                    "base_url": upstream.base_url,
                    "api_key": f"sk-up-{i}",
                    "models": [upstream.model],
                }
                for i in (1, 2, 3)
            ],
            "state": state,
            "logging": {"level": "warning"},
        }
        return json.dumps(config, indent=2)  # JSON is YAML

    def start(self, upstream: Upstream, timeout: float = 60) -> None:
        if self.backend == "redis":
            flush_redis_prefix()
        super().start(upstream, timeout)


class LiteLLM(Target):
    """LiteLLM proxy, one worker, no database: the peer we compare against."""

    ready_path = "/health/liveliness"

    def __init__(self, port: int, workdir: Path) -> None:
        super().__init__("litellm", port, workdir)

    def command(self, config: Path) -> list[str]:
        return [
            str(LITELLM_VENV / "bin" / "litellm"),
            "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port),
            "--num_workers", "1",
        ]  # fmt: skip

    def config_text(self, upstream: Upstream) -> str:
        config = {
            "model_list": [
                {
                    "model_name": upstream.model,
                    "litellm_params": {
                        "model": f"openai/{upstream.model}",
                        "api_base": upstream.base_url,
                        "api_key": "sk-dummy",
                    },
                }
            ],
            "general_settings": {"master_key": canned.CLIENT_KEY},
        }
        return json.dumps(config, indent=2)

    def env(self) -> dict[str, str]:
        return {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network: do not fetch the cost map
            "LITELLM_LOG": "ERROR",
            "AIOHTTP_CONNECTOR_LIMIT": LITELLM_CONNECTOR_LIMIT,
            "AIOHTTP_CONNECTOR_LIMIT_PER_HOST": LITELLM_CONNECTOR_LIMIT,
        }

    @staticmethod
    def installed() -> bool:
        return (LITELLM_VENV / "bin" / "litellm").exists()


def pool_proxy_installed() -> bool:
    """True when the repo's package can at least print its serve help."""
    py = ROOT / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [str(py), "-m", "proxy", "serve", "--help"],
        cwd=ROOT, capture_output=True, timeout=60,
    )  # fmt: skip
    return probe.returncode == 0


def redis_cli(*args: str) -> str:
    cli = shutil.which("redis-cli") or "redis-cli"
    out = subprocess.run([cli, "-p", "6379", *args], capture_output=True, text=True, timeout=30)
    return out.stdout


def redis_pid() -> int:
    """The process id of the Redis server on 6379 (0 if it does not say)."""
    for line in redis_cli("info", "server").splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":")[1])
    return 0


def flush_redis_prefix() -> None:
    """Drop every key under our prefix so each redis run starts from a clean pool."""
    keys = redis_cli("--scan", "--pattern", f"{REDIS_PREFIX}*").split()
    for start in range(0, len(keys), 500):
        redis_cli("del", *keys[start : start + 500])


def validate(target: Target, upstream_count: Callable[[], int], stream: bool, door: str = "chat") -> None:
    """One request through the target: the reply must carry the canned answer,
    and the fake upstream must have seen it."""
    before = upstream_count()
    body = json.dumps(canned.DOORS[door].body(stream)).encode()
    request = urllib.request.Request(
        target.url(door),
        data=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {canned.CLIENT_KEY}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        raw = resp.read()
    got = canned.DOORS[door].content(raw, stream)
    if got != canned.CONTENT:
        raise RuntimeError(f"reply content differs from the canned answer: {got[:80]!r}")
    for _ in range(50):  # nginx logs after the response is sent
        if upstream_count() > before:
            return
        time.sleep(0.02)
    raise RuntimeError("the fake upstream did not see the request")
