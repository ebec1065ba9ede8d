"""Hold N streams open through a gateway, measure it, then hang up.

Runs as its own process (pinned to the load core) and prints one JSON line:
how many streams were served, the gateway's RSS with them open, and how many
upstream streams were still open 2 s after the clients disconnected.
Run: python open_streams.py --url URL --n N --proxy-pid PID --stats-url URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import canned
import procs

CONNECTING_AT_ONCE = 500  # more at once only overflows the gateway's listen backlog
LINGER_LIMIT_S = 30  # how long to watch upstream streams drain after the hang-up


async def hold_one(
    session: aiohttp.ClientSession,
    url: str,
    gate: asyncio.Semaphore,
    served: asyncio.Queue[bool],
    errors: Counter[str],
) -> None:
    """Open one stream, report when its first content arrives, then keep reading."""
    body = canned.request_body(stream=True, model=canned.MODEL)
    headers = {"Authorization": f"Bearer {canned.CLIENT_KEY}"}
    reported = False
    try:
        async with gate:
            resp = await session.post(url, json=body, headers=headers)
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            async for line in resp.content:
                if line.startswith(b"data:") and b'"content"' in line and b"tick" in line:
                    break
            else:
                raise RuntimeError("stream ended before any content")
            served.put_nowait(True)
            reported = True
        async for _ in resp.content:
            pass
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every failure is counted and reported by type
        errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
        if not reported:
            served.put_nowait(False)


async def upstream_open(session: aiohttp.ClientSession, stats_url: str) -> int:
    async with session.get(stats_url) as resp:
        return int((await resp.json())["open"])


async def watch_drain(session: aiohttp.ClientSession, stats_url: str) -> tuple[int, float | None]:
    """Upstream streams still open 2 s after the hang-up, and when the last one closed."""
    hung_up = time.monotonic()
    at_2s: int | None = None
    closed_s: float | None = None
    while True:
        await asyncio.sleep(0.1)
        count = await upstream_open(session, stats_url)
        elapsed = time.monotonic() - hung_up
        if count == 0 and closed_s is None:
            closed_s = round(elapsed, 2)
        if at_2s is None and elapsed >= 2:
            at_2s = count
        if at_2s is not None and (closed_s is not None or elapsed > LINGER_LIMIT_S):
            return at_2s, closed_s


async def run(url: str, n: int, proxy_pid: int, stats_url: str, timeout: float) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    served: asyncio.Queue[bool] = asyncio.Queue()
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(None))
    async with aiohttp.ClientSession() as stats_session:
        started = time.monotonic()
        tasks = [asyncio.create_task(hold_one(session, url, gate, served, errors)) for _ in range(n)]
        ok = failed = 0
        while ok + failed < n and time.monotonic() - started < timeout:
            try:
                good = await asyncio.wait_for(served.get(), timeout - (time.monotonic() - started))
            except TimeoutError:
                break
            ok, failed = ok + good, failed + (not good)
        opened_s = time.monotonic() - started
        await asyncio.sleep(1)  # let the gateway settle before reading its memory
        rss_open = procs.tree_rss_mib(proxy_pid)
        open_during = await upstream_open(stats_session, stats_url)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
        open_after, all_closed_s = await watch_drain(stats_session, stats_url)
    return {
        "n": n,
        "served": ok,
        "failed": n - ok,
        "seconds_to_open": round(opened_s, 2),
        "rss_open_mib": round(rss_open, 1),
        "upstream_open_during": open_during,
        "upstream_open_after_2s": open_after,
        "upstream_all_closed_after_s": all_closed_s,
        "errors": dict(errors.most_common(3)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--proxy-pid", type=int, required=True)
    parser.add_argument("--stats-url", required=True)
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.n, args.proxy_pid, args.stats_url, args.timeout))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
