"""Gateway CPU per request by door, as callgrind instruction counts (steady on a busy machine).

    .venv/bin/python bench/cpu.py [chat messages responses]   # N=200 PORT0=18300 by default

The fake upstream (nginx, PORT0) answers every door's stream with the same 20-chunk
answer plus usage; pool-proxy (memory backend, PORT0+1) runs under valgrind's
callgrind; per door, 60 warm-up streams, then N counted ones (16 at a time).
Prints instructions per request and each door's ratio to the chat stream.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import canned
import procs
import targets
from fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("N", "200"))
CONCURRENCY = 16


async def drive(base: str, door: str, n: int) -> None:
    spec = canned.DOORS[door]
    body = spec.body(True)
    headers = {"Authorization": f"Bearer {canned.CLIENT_KEY}"}
    async with aiohttp.ClientSession() as session:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with gate, session.post(base + spec.path, json=body, headers=headers) as resp:
                raw = await resp.read()
                if resp.status != 200 or spec.content(raw, True) != canned.CONTENT:
                    raise RuntimeError(f"{door}: {resp.status} {raw[:300]!r}")

        await asyncio.gather(*(one() for _ in range(n)))


def counted(out: Path) -> int:
    text = Path(sorted(glob.glob(f"{out}*"), key=os.path.getmtime)[-1]).read_text()
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    if not match:
        raise RuntimeError("no totals in the callgrind dump")
    return int(match.group(1))


def measure(work: Path, upstream: FakeUpstream, port: int, doors: list[str]) -> dict[str, float]:
    target = targets.PoolProxy("memory", port, work / "gateway")
    target.workdir.mkdir(parents=True)
    config = target.workdir / "config.yaml"
    config.write_text(target.config_text(targets.Upstream(upstream.base_url)))
    out = work / "callgrind.out"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(ROOT / ".venv/bin/python")]
    argv += ["-m", "proxy", "serve", "--config", str(config), "--port", str(port)]
    proc = procs.spawn(argv, work / "gateway.log", {"PYTHONPATH": str(ROOT)})
    base, result = f"http://127.0.0.1:{port}", {}
    try:
        procs.wait_ready(f"{base}/readyz", proc, 300)
        for door in doors:
            asyncio.run(drive(base, door, 60))
            subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
            asyncio.run(drive(base, door, N))
            subprocess.run(["callgrind_control", "-d", door, str(proc.pid)], capture_output=True, check=True)
            time.sleep(1)
            result[door] = counted(out) / N
            print(f"{door:10} {result[door] / 1000:8.1f}k instructions/request", flush=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return result


def main() -> int:
    doors = sys.argv[1:] or list(canned.DOORS)
    port = int(os.environ.get("PORT0", "18300"))
    work = Path(tempfile.mkdtemp(prefix="pool-proxy-cpu-"))
    upstream = FakeUpstream(work, port)
    upstream.start()
    try:
        result = measure(work, upstream, port + 1, doors)
    finally:
        upstream.stop()
    for door, count in result.items():
        if door != "chat" and "chat" in result:
            print(f"{door} / chat = {count / result['chat']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
