"""Shared fixtures: fake upstreams and the real gateway, each on a real loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import pytest
import yaml
from aiohttp import web
from openai import AsyncOpenAI

from proxy.app import create_app
from proxy.clock import FakeClock
from proxy.config import load_config, parse_config
from proxy.gateway import Gateway
from proxy.http.keys import GATEWAY
from tests.fakes.mammouth import FakeMammouth
from tests.fakes.monica import FakeMonica
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.webhook import FakeWebhook

ALICE = "sk-test-alice-0123456789"
BOB = "sk-test-bob-0123456789"
ADMIN = "admin-secret-0123456789"

# The first_byte_timeout / stream_idle_timeout of a test whose upstream hangs or stalls.
# The hung path waits it out once; a healthy answer in the same test (the account failed
# over to, the content before a stall) must never meet it, even on a machine too busy
# to answer a loopback request in a few hundred milliseconds.
HUNG_AFTER = "2s"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run an aiohttp app on a free loopback port; returns the runner and base URL."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


FakeT = TypeVar("FakeT", bound="HasApp")


class HasApp(Protocol):
    app: web.Application
    url: str


@contextlib.asynccontextmanager
async def served(fake: FakeT) -> AsyncIterator[FakeT]:
    """A fake upstream on a real port for the length of a fixture."""
    runner, fake.url = await serve(fake.app)
    yield fake
    await runner.cleanup()


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll `check` until it holds, failing the test after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class CountingClock(FakeClock):
    """A FakeClock that counts how often the gateway read the time.

    A request waiting in the gateway (for a token, for a free account) reads the clock
    each time it looks again; a test waits for those reads instead of guessing how long
    the request takes to get there.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()

    def monotonic(self) -> float:
        self.reads += 1
        return super().monotonic()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeOpenAI]:
    async with served(FakeOpenAI()) as fake:
        yield fake


def base_config(upstream: FakeOpenAI | None = None, accounts: int = 3, **sections: Any) -> dict[str, Any]:
    """A config dict: clients alice and bob, `accounts` openai accounts on the fake upstream."""
    config: dict[str, Any] = {
        "admin_key": ADMIN,
        "clients": [{"name": "alice", "key": ALICE}, {"name": "bob", "key": BOB}],
        "accounts": [
            {
                "id": f"acct-{i}",
                "provider": "openai",
                "base_url": upstream.base_url if upstream else "http://127.0.0.1:9/v1",
                "api_key": f"sk-upstream-{i}-secretvalue",
                "models": ["gpt-4o-mini", "gpt-4o"],
            }
            for i in range(1, accounts + 1)
        ],
        "pool": {"queue_timeout": "200ms"},
        "logging": {"level": "warning"},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name] = {**config[name], **value}
        else:
            config[name] = value
    return config


@dataclass
class Running:
    url: str
    app: web.Application
    clock: FakeClock
    runner: web.AppRunner
    http: aiohttp.ClientSession
    clients: list[AsyncOpenAI] = field(default_factory=list)

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    def client(self, key: str = ALICE, **kwargs: Any) -> AsyncOpenAI:
        client = AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, **kwargs)
        self.clients.append(client)
        return client

    async def admin(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def account(self, account_id: str) -> dict[str, Any]:
        _, body = await self.admin("GET", "/admin/accounts")
        return next(a for a in body["data"] if a["id"] == account_id)

    async def post(self, path: str, body: Any, key: str = ALICE, **kwargs: Any) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        return await self.http.post(f"{self.url}{path}", json=body, headers=headers, **kwargs)


GatewayFactory = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    """Start the real gateway in this process on a real port, with a movable clock."""
    running: list[Running] = []

    async def start(raw: dict[str, Any], clock: FakeClock | None = None, *, on_disk: bool = False) -> Running:
        """`on_disk`: write the config to a file first, so that reloads re-read it."""
        raw = copy.deepcopy(raw)
        raw.setdefault("state", {}).setdefault("path", str(tmp_path / "state.json"))
        clock = clock or FakeClock()
        if on_disk:
            path = tmp_path / "gateway.yaml"
            path.write_text(yaml.safe_dump(raw))
            config = load_config(path)
        else:
            config = parse_config(raw)
        app = create_app(config, clock)
        runner, url = await serve(app)
        gw = Running(url, app, clock, runner, aiohttp.ClientSession())
        running.append(gw)
        return gw

    yield start
    for gw in running:
        for client in gw.clients:
            await client.close()
        await gw.http.close()
        await gw.runner.cleanup()


def chat(model: str = "gpt-4o-mini", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
async def monica() -> AsyncIterator[FakeMonica]:
    async with served(FakeMonica()) as fake:
        yield fake


@pytest.fixture
async def mammouth() -> AsyncIterator[FakeMammouth]:
    async with served(FakeMammouth()) as fake:
        yield fake


@pytest.fixture
async def webhook() -> AsyncIterator[FakeWebhook]:
    """A local alert receiver (`notify.webhook`); a held POST is let go at the end."""
    async with served(FakeWebhook()) as fake:
        yield fake
        fake.release.set()
