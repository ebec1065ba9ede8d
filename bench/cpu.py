"""Gateway CPU per request by door, as callgrind instruction counts (steady on a busy machine).

    .venv/bin/python bench/cpu.py [chat chat-json messages responses]   # N=200 ROUNDS=3 PORT0=18300

The fake upstream (nginx, PORT0) answers every door's stream with the same 20-chunk
answer plus usage (`chat-json`: the non-stream chat answer); pool-proxy (memory backend,
PORT0+1) runs under valgrind's callgrind; per scenario, 60 warm-up requests, then N
counted ones (16 at a time), the scenarios taken in turn ROUNDS times. Prints instructions
per request of each round, their median, and each door's ratio to the chat stream's
median. Rounds of one scenario agree within ~0.5 %; a count that rises round after round is
work left behind by earlier requests (it found a leak: finished streams kept a ping timer).
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import signal
import statistics
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
GATEWAY = Path(os.environ.get("GATEWAY", ROOT)).resolve()
N = int(os.environ.get("N", "200"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONCURRENCY = 16


def scenario(name: str) -> tuple[str, bool]:
    """(door, stream) of a scenario name: a door streams, `<door>-json` does not."""
    door, _, json = name.partition("-")
    if door not in canned.DOORS or json not in ("", "json"):
        raise SystemExit(f"unknown scenario {name!r}: a door ({', '.join(canned.DOORS)}), or door-json")
    return door, not json


async def drive(base: str, name: str, n: int) -> None:
    door, stream = scenario(name)
    spec = canned.DOORS[door]
    body = spec.body(stream)
    headers = {"Authorization": f"Bearer {canned.CLIENT_KEY}"}
    async with aiohttp.ClientSession() as session:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with gate, session.post(base + spec.path, json=body, headers=headers) as resp:
                raw = await resp.read()
                if resp.status != 200 or spec.content(raw, stream) != canned.CONTENT:
                    raise RuntimeError(f"{name}: {resp.status} {raw[:300]!r}")

        await asyncio.gather(*(one() for _ in range(n)))


def counted(out: Path) -> int:
    text = Path(sorted(glob.glob(f"{out}*"), key=os.path.getmtime)[-1]).read_text()
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    if not match:
        raise RuntimeError("no totals in the callgrind dump")
    return int(match.group(1))


def count_round(base: str, pid: int, out: Path, name: str) -> float:
    """Instructions per request of N requests of scenario `name`, after a warm-up."""
    asyncio.run(drive(base, name, 60))
    subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, check=True)
    asyncio.run(drive(base, name, N))
    subprocess.run(["callgrind_control", "-d", name, str(pid)], capture_output=True, check=True)
    time.sleep(1)  # let the dump file be complete before it is read
    return counted(out) / N


def measure(work: Path, upstream: FakeUpstream, port: int, names: list[str]) -> dict[str, float]:
    target = targets.PoolProxy("memory", port, work / "gateway")
    target.workdir.mkdir(parents=True)
    config = target.workdir / "config.yaml"
    config.write_text(target.config_text(targets.Upstream(upstream.base_url)))
    out = work / "callgrind.out"
    python = str(GATEWAY / ".venv/bin/python")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python]
    argv += ["-m", "proxy", "serve", "--config", str(config), "--port", str(port)]
    # run from the checkout: `-m` puts the working directory first on the module path
    proc = procs.spawn(argv, work / "gateway.log", {"PYTHONPATH": str(GATEWAY)}, cwd=GATEWAY)
    base = f"http://127.0.0.1:{port}"
    rounds: dict[str, list[float]] = {name: [] for name in names}
    try:
        procs.wait_ready(f"{base}/readyz", proc, 300)
        for _ in range(ROUNDS):
            for name in names:
                rounds[name].append(count_round(base, proc.pid, out, name))
                print(f"{name:10} {rounds[name][-1] / 1000:8.1f}k instructions/request", flush=True)
        print(f"callgrind dumps: {out}.*", flush=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    result = {name: statistics.median(counts) for name, counts in rounds.items()}
    for name, counts in rounds.items():
        spread = ", ".join(f"{count / 1000:.1f}k" for count in counts)
        print(f"{name:10} {result[name] / 1000:8.1f}k median of {spread}")
    return result


def main() -> int:
    doors = sys.argv[1:] or ["chat", "chat-json", *(d for d in canned.DOORS if d != "chat")]
    for name in doors:
        scenario(name)
    port = int(os.environ.get("PORT0", "18300"))
    work = Path(tempfile.mkdtemp(prefix="pool-proxy-cpu-"))
    upstream = FakeUpstream(work, port)
    upstream.start()
    try:
        result = measure(work, upstream, port + 1, doors)
    finally:
        upstream.stop()
    for door, count in result.items():
        if door in canned.DOORS and door != "chat" and "chat" in result:
            print(f"{door} / chat = {count / result['chat']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
