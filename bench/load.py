"""One timed wrk run against a target, parsed into a LoadResult."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import canned
import procs

SCRIPT = Path(__file__).with_name("chat.lua")


@dataclass(frozen=True)
class LoadResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors and timeouts


def body_file(workdir: Path, stream: bool, door: str = "chat") -> Path:
    name = ("body-stream.json" if stream else "body.json") if door == "chat" else f"body-{door}-{stream}.json"
    path = workdir / name
    path.write_text(json.dumps(canned.DOORS[door].body(stream)))
    return path


def run_wrk(url: str, key: str, body: Path, connections: int, seconds: float) -> LoadResult:
    """wrk with one thread, pinned to the load core, for `seconds`."""
    wrk = shutil.which("wrk") or "wrk"
    argv = [
        wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
        "-s", str(SCRIPT), url, "--", key, str(body),
    ]  # fmt: skip
    proc = subprocess.run(
        procs.pinned(procs.LOAD_CPU, argv), capture_output=True, text=True, timeout=seconds + 60
    )
    match = re.search(r"^BENCH_RESULT (.*)$", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout.strip()}")
    fields = {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    return LoadResult(
        requests=fields["requests"],
        rps=fields["requests"] / (fields["duration_us"] / 1e6),
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        errors=fields["status_errors"] + fields["socket_errors"],
    )
