"""A local alert receiver (a Slack-style incoming webhook) that records, fails or hangs."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

HOOK_PATH = "/services/T000/B000/hook-token-0123456789"


class FakeWebhook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.posts = 0  # every POST, retries included
        self.holding = 0  # POSTs being held right now (mode "hang")
        self.mode = "ok"  # ok | fail (500) | hang (until `release` is set)
        self.release = asyncio.Event()
        self.url = ""
        self.app = web.Application()
        self.app.router.add_post(HOOK_PATH, self.hook)

    @property
    def hook_url(self) -> str:
        return f"{self.url}{HOOK_PATH}"

    def events(self) -> list[str]:
        return [body["event"] for body in self.received]

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.posts += 1
        if self.mode == "hang":
            self.holding += 1
            try:
                await self.release.wait()
            finally:
                self.holding -= 1
        if self.mode == "fail":
            return web.Response(status=500, text="no")
        self.received.append(body)
        return web.Response(text="ok")
