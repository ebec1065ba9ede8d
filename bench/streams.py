"""The open-streams test: one gateway at a time in front of the slow upstream."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import procs
from targets import Direct, Target, Upstream

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

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        procs.stop(self.proc)


def max_streams_here() -> int:
    """A gateway holds two sockets per stream (client and upstream): the fd limit caps N."""
    return (procs.nofile_limit() - 200) // 2


def measure(target: Target, upstream: SlowUpstream, n: int) -> dict[str, Any]:
    """Start target on the slow upstream, hold n streams through it, stop it.

    The direct target holds them on the slow upstream itself: the floor that
    shows what the client and the slow upstream manage without a gateway.
    """
    result: dict[str, Any] = {"target": target.name, "asked": n}
    try:
        if isinstance(target, Direct):
            url, pid = f"{upstream.base_url}/chat/completions", upstream.pid
        else:
            target.start(Upstream(upstream.base_url))
            result["startup_s"] = target.startup_s
            time.sleep(1)
            url, pid = target.chat_url, target.pid
            assert pid is not None
            result["rss_idle_mib"] = round(procs.tree_rss_mib(pid), 1)
        argv = [
            sys.executable, str(HERE / "open_streams.py"), "--url", url, "--n", str(n),
            "--proxy-pid", str(pid), "--stats-url", upstream.stats_url,
        ]  # fmt: skip
        run = subprocess.run(procs.pinned(procs.LOAD_CPU, argv), capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"stream client failed: {run.stderr.strip()[-400:]}")
        result.update(json.loads(run.stdout.strip().splitlines()[-1]))
        if isinstance(target, Direct):
            result.pop("rss_open_mib", None)  # the slow upstream's memory says nothing here
    except Exception as exc:  # a failed target is reported, the bench goes on
        result["error"] = f"{exc}"[:300]
        result["log"] = target.log_tail()
    finally:
        target.stop()
    return result
