"""Redis for tests: the shared server (own key prefix per test) and private throwaway servers."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.processes import free_port

REDIS_URL = os.environ.get("POOL_PROXY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def new_prefix() -> str:
    return f"pool-proxy-test:{secrets.token_hex(4)}:"


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete the keys under `prefix` only: other tests and users share the server."""
    client = aioredis.Redis.from_url(url)
    try:
        batch = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(batch), 500):
            await client.delete(*batch[start : start + 500])
    finally:
        await client.aclose()


class PrivateRedis:
    """A redis-server of our own on a fixed port, to stop and start again mid-test."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def arguments(self) -> list[str]:
        return ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (tests/prepare.sh installs it)")
        self.process = subprocess.Popen(
            [binary, *self.arguments()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            for _ in range(100):
                try:
                    if await client.ping():
                        return
                except (OSError, aioredis.RedisError):
                    await asyncio.sleep(0.05)
            raise RuntimeError(f"private redis-server on port {self.port} did not start")
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None


class PrivateSentinel(PrivateRedis):
    """A Sentinel watching one master, as a managed HA Redis would have."""

    def __init__(self, master_port: int, workdir: Path, service: str = "mymaster") -> None:
        super().__init__()
        self.config = workdir / f"sentinel-{self.port}.conf"  # Sentinel rewrites its config file
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\nsentinel monitor {service} 127.0.0.1 {master_port} 1\n"
        )

    def arguments(self) -> list[str]:
        return [str(self.config), "--sentinel"]


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    prefix = new_prefix()
    yield prefix
    await delete_prefix(REDIS_URL, prefix)
