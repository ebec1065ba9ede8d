"""Render docs/dashboard.png: the dashboard over a realistic pool after an hour of traffic.

Run from the repo root: `.venv/bin/python docs/make_screenshot.py` (needs /usr/bin/chromium).
Everything is local: the fake OpenAI upstream of the tests and an in-process gateway whose
clock is moved minute by minute, so the chart has a full hour in a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import openai  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from proxy.app import create_app  # noqa: E402
from proxy.clock import FakeClock  # noqa: E402
from proxy.config import parse_config  # noqa: E402
from tests.conftest import serve  # noqa: E402
from tests.fakes.openai_upstream import FakeOpenAI, Step, error_step  # noqa: E402

ADMIN = "admin-screenshot-key-0123"
CLIENTS = {"alice": "sk-alice-screenshot-0001", "bob": "sk-bob-screenshot-0002", "open-webui": "sk-owui-0003"}
ACCOUNTS = ["openai-team", "dmx-1", "dmx-2", "groq-free", "openai-old", "deepseek-trial"]


def key(account: str) -> str:
    return f"sk-{account}-7f3a9c2e81d4b6"


def config(upstream: FakeOpenAI, state: Path) -> dict[str, Any]:
    return {
        "admin_key": ADMIN,
        "clients": [{"name": name, "key": k} for name, k in CLIENTS.items()],
        "accounts": [
            {
                "id": a,
                "provider": "openai",
                "base_url": upstream.base_url,
                "api_key": key(a),
                "models": ["gpt-4o-mini", "gpt-4o"],
                "max_concurrency": 4,
            }
            for a in ACCOUNTS
        ],
        "pool": {"queue_timeout": "200ms", "max_attempts": 4},
        "state": {"path": str(state)},
        "logging": {"level": "error"},
    }


async def an_hour_of_traffic(clock: FakeClock, clients: dict[str, AsyncOpenAI], upstream: FakeOpenAI) -> None:
    for minute in range(60):
        busy = 3 + (minute * 7) % 9 + (6 if 35 <= minute <= 42 else 0)
        for i in range(busy):
            name = ("alice", "alice", "bob", "open-webui")[i % 4]
            model = "gpt-4o" if i % 5 == 0 else "gpt-4o-mini"
            await clients[name].chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi " * (i + 1)}]
            )
        if minute in (12, 38, 40, 51):  # a few requests the upstream refuses (context too long)
            for account in ACCOUNTS[:4]:
                upstream.script(key(account), error_step(400, "context_length_exceeded"))
            for _ in range(4):
                with contextlib.suppress(openai.BadRequestError):
                    await clients["bob"].chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                    )
            upstream.scripts.clear()
        clock.advance(60)


async def main() -> None:
    upstream = FakeOpenAI()
    up_runner, upstream.url = await serve(upstream.app)
    with TemporaryDirectory() as tmp:
        clock = FakeClock()
        app = create_app(parse_config(config(upstream, Path(tmp) / "state.json")), clock)
        runner, url = await serve(app)
        clients = {n: AsyncOpenAI(base_url=f"{url}/v1", api_key=k, max_retries=0) for n, k in CLIENTS.items()}
        await an_hour_of_traffic(clock, clients, upstream)
        # Now: one account rate-limited, one out of quota, one logged out, one switched off.
        upstream.script(key("dmx-2"), error_step(429, "rate_limit_exceeded", **{"Retry-After": "247"}))
        upstream.script(key("groq-free"), error_step(429, "insufficient_quota", "You exceeded your quota"))
        upstream.script(key("openai-old"), error_step(401, "invalid_api_key"))
        for _ in range(6):
            await clients["alice"].chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
            await admin.post(f"{url}/admin/accounts/deepseek-trial/disable")
        # One long answer still streaming while the picture is taken.
        upstream.default = Step("slow", delay=2.0, text="a long answer " * 5)
        streaming = asyncio.create_task(
            clients["open-webui"].chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "write"}], stream=True
            )
        )
        await asyncio.sleep(0.3)
        await screenshot(url, Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.png")
        streaming.cancel()
        for client in clients.values():
            await client.close()
        await runner.cleanup()
    await up_runner.cleanup()


async def screenshot(url: str, out: Path) -> None:
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 1200
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = await browser.new_page(viewport={"width": width, "height": 800}, device_scale_factor=1)
        await page.goto(f"{url}/admin")
        await page.get_by_label("The gateway's admin_key").fill(ADMIN)
        await page.get_by_role("button", name="Open dashboard").click()
        await page.locator("#chart svg").wait_for()
        await page.screenshot(path=str(out), full_page=True)
        await browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
