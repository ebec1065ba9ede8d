"""A slow OpenAI-style upstream for the open-streams test.

Every chat request becomes a stream that never ends on its own: the role chunk
and a first content chunk at once, then one chunk every `--interval` seconds.
GET /stats reports how many of those streams are open right now, so the bench
can see whether a gateway lets go of the upstream when its client leaves.
Run: python slow_upstream.py --port 18010 [--interval 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json

import canned
from aiohttp import web

OPEN = web.AppKey("open", dict)


async def chat(request: web.Request) -> web.StreamResponse:
    counters = request.app[OPEN]
    interval: float = request.app["interval"]
    await request.read()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    counters["open"] += 1
    counters["total"] += 1
    try:
        await response.prepare(request)
        index = 0
        while True:
            for _ in range(2 if index == 0 else 1):  # role chunk + first content at once
                payload = json.dumps(canned.slow_chunk(index), separators=(",", ":"))
                await response.write(f"data: {payload}\n\n".encode())
                index += 1
            await asyncio.sleep(interval)
    finally:
        counters["open"] -= 1


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPEN])


async def models(request: web.Request) -> web.Response:
    return web.json_response(canned.models())


def make_app(interval: float) -> web.Application:
    app = web.Application()
    app[OPEN] = {"open": 0, "total": 0}
    app["interval"] = interval
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    return app


async def serve(port: int, interval: float) -> None:
    # handler_cancellation: a client that hangs up cancels its handler at once,
    # so /stats shows the drop without waiting for the next chunk write to fail
    runner = web.AppRunner(make_app(interval), handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18010)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.interval))


if __name__ == "__main__":
    main()
