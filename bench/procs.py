"""Child processes: start pinned to a CPU, wait for HTTP readiness, measure, stop."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

PROXY_CPU = "0"  # the proxy under test gets a core of its own
LOAD_CPU = "1"  # wrk, nginx, the slow upstream and the stream client share the other


def pinned(cpu: str, argv: list[str]) -> list[str]:
    """argv prefixed with taskset when the machine has the CPU and the tool."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > int(cpu):
        return ["taskset", "-c", cpu, *argv]
    return argv


def spawn(
    argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start argv in its own process group with stdout and stderr in log."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """SIGTERM the child's process group, SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def http_status(url: str, timeout: float = 1.0) -> int:
    """Status of a GET, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return 0


def wait_ready(
    url: str, proc: subprocess.Popen[bytes] | None, timeout: float, interval: float = 0.01
) -> float:
    """Seconds until GET url answers 200; raises if the process dies or time runs out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode} before ready")
        if http_status(url, timeout=0.5) == 200:
            return time.monotonic() - start
        time.sleep(interval)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            kids += [int(p) for p in task.read_text().split()]
    return kids


def tree_rss_mib(pid: int) -> float:
    """Sum of VmRSS over pid and all its descendants, in MiB."""
    total_kib, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
        todo += _children(current)
    return total_kib / 1024


def nofile_limit() -> int:
    """The soft open-files limit this process (and its children) run with."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ForeignCpu:
    """User CPU that processes outside this bench spent while it ran.

    Everything the bench starts is a reaped child by the end, so its time shows
    in RUSAGE_CHILDREN; processes it uses but did not spawn as children (Redis)
    are added by pid. The rest of /proc/stat's user time is someone else's (a
    test suite, a build) competing for the two cores.
    """

    def __init__(self) -> None:
        self.start_machine = _machine_user_s()
        self.start_own = _own_user_s()
        self.started = time.monotonic()
        self.helpers: dict[int, float] = {}

    def count_as_ours(self, pid: int) -> None:
        self.helpers[pid] = _process_user_s(pid)

    def seconds(self) -> tuple[float, float]:
        """(foreign user CPU seconds, wall seconds) since construction."""
        machine = _machine_user_s() - self.start_machine
        own = _own_user_s() - self.start_own
        own += sum(_process_user_s(pid) - start for pid, start in self.helpers.items())
        return max(0.0, machine - own), time.monotonic() - self.started


def _process_user_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return int(fields[11]) / os.sysconf("SC_CLK_TCK")  # utime, field 14 of stat


def _machine_user_s() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def _own_user_s() -> float:
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    )
