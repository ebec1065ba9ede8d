"""The open-streams test: one gateway at a time in front of the slow upstream."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import procs
from targets import Target, Upstream

HERE = Path(__file__).resolve().parent


class SlowUpstream:
    """slow_upstream.py as a child process on the load core."""

    def __init__(self, port: int, interval: float, workdir: Path) -> None:
        self.port, self.interval, self.workdir = port, interval, workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stats"

    def start(self) -> None:
        argv = [sys.executable, str(HERE / "slow_upstream.py"), "--port", str(self.port)]
        argv += ["--interval", str(self.interval)]
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "slow-upstream.log"
        self.proc = procs.spawn(procs.pinned(procs.LOAD_CPU, argv), log)
        procs.wait_ready(self.stats_url, self.proc, timeout=20)

    def stop(self) -> None:
        procs.stop(self.proc)


def max_streams_here() -> int:
    """A gateway holds two sockets per stream (client and upstream): the fd limit caps N."""
    return (procs.nofile_limit() - 200) // 2


def measure(target: Target, upstream: SlowUpstream, n: int) -> dict[str, Any]:
    """Start target on the slow upstream, hold n streams through it, stop it."""
    result: dict[str, Any] = {"target": target.name, "asked": n}
    try:
        target.start(Upstream(upstream.base_url))
        result["startup_s"] = target.startup_s
        time.sleep(1)
        assert target.pid is not None
        result["rss_idle_mib"] = round(procs.tree_rss_mib(target.pid), 1)
        argv = [
            sys.executable, str(HERE / "open_streams.py"), "--url", target.chat_url,
            "--n", str(n), "--proxy-pid", str(target.pid), "--stats-url", upstream.stats_url,
        ]  # fmt: skip
        run = subprocess.run(procs.pinned(procs.LOAD_CPU, argv), capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"stream client failed: {run.stderr.strip()[-400:]}")
        result.update(json.loads(run.stdout.strip().splitlines()[-1]))
    except Exception as exc:  # a failed target is reported, the bench goes on
        result["error"] = f"{exc}"[:300]
        result["log"] = target.log_tail()
    finally:
        target.stop()
    return result
