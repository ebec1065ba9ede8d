"""Gateway replicas as real processes (`python -m proxy serve`), for multi-replica tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from tests.processes import ROOT, free_port, wait_ready


class Replica:
    def __init__(self, name: str, config: dict[str, Any], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 30.0) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "proxy",
                    "serve",
                    "--config",
                    str(self.config_path),
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        process = self.process
        try:
            await wait_ready(self.url, timeout, alive=lambda: process.poll() is None)
        except AssertionError:
            raise RuntimeError(
                f"replica {self.name} did not become ready:\n{self.log_path.read_text()[-3000:]}"
            ) from None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a container is killed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


@contextlib.asynccontextmanager
async def replica_pair(config: dict[str, Any], tmp_path: Path) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two gateway processes `a` and `b` on one config (one Redis), stopped afterwards."""
    replicas = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
    try:
        await asyncio.gather(*(r.start() for r in replicas))
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()
