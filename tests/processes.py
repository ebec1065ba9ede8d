"""Real gateway processes for tests that need a whole `pool-proxy serve` (signals, restarts)."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ENV = (
    "MONICA_COOKIE",
    "BOT_UID",
    "MAMMOUTH_COOKIES",
    "COOKIES",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "BEARER_TOKEN",
    "AUTH_TOKEN",
    "POOL_PROXY_CONFIG",
)


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range (32768 and up here), so that no
    outgoing connection of this or another process can take it before the child binds it."""
    while True:
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


async def spawn(
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    output: int = asyncio.subprocess.DEVNULL,
) -> asyncio.subprocess.Process:
    """`python -m proxy <args>` with a clean account environment plus `env`.

    `output=asyncio.subprocess.PIPE` to read what it prints (then keep reading it, or a
    full pipe blocks the gateway)."""
    base = {k: v for k, v in os.environ.items() if k not in ACCOUNT_ENV}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        *args,
        cwd=cwd,
        stdout=output,
        stderr=output,
        env={**base, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})},
    )


async def wait_ready(url: str, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll `/readyz` until the gateway answers 200 (failing early if `alive()` turns false)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            if not alive():
                raise AssertionError(f"{url}: the gateway exited before it was ready")
            try:
                async with http.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{url} did not become ready")
            await asyncio.sleep(0.05)
