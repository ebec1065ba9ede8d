"""An app built with `create_app` and run by an `AppRunner` (embedded, no `pool-proxy serve`)
still reloads on SIGHUP and still ends open streams cleanly when it shuts down."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import aiohttp
import orjson
import pytest
import yaml

from proxy.app import create_app
from proxy.clock import FakeClock
from proxy.config import parse_config
from tests.conftest import ALICE, base_config, chat, serve, until
from tests.fakes.openai_upstream import Step


@pytest.fixture
def sighup_caught() -> Iterator[list[int]]:
    """While the test runs, a SIGHUP nobody handles is recorded instead of ending pytest."""
    caught: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: caught.append(signum))
    yield caught
    signal.signal(signal.SIGHUP, previous)


async def test_an_embedded_app_reloads_its_config_on_sighup(upstream, start_gateway, tmp_path, sighup_caught):
    gw = await start_gateway(base_config(upstream, accounts=1), on_disk=True)
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(base_config(upstream, accounts=2, state={"path": str(tmp_path / "s")})))

    os.kill(os.getpid(), signal.SIGHUP)

    async def reloaded() -> bool:
        _, body = await gw.admin("GET", "/admin/accounts")
        return [a["id"] for a in body["data"]] == ["acct-1", "acct-2"]

    await until(reloaded, timeout=10)
    assert sighup_caught == []  # the app's handler took it, not the test's fallback


async def test_an_embedded_app_ends_a_stream_held_past_the_grace_with_an_error_event(upstream):
    upstream.default = Step("cut", text="one two three four")  # sends "one two", then never more
    raw = base_config(upstream, accounts=1, server={"shutdown_grace": "300ms"})
    runner, url = await serve(create_app(parse_config(raw), FakeClock()))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{url}/v1/chat/completions", json=chat(stream=True), headers={"Authorization": f"Bearer {ALICE}"}
        )
        assert resp.status == 200
        seen = b""
        while b'"one"' not in seen:  # the stream is open and relaying
            seen += await resp.content.readline()

        stopping = asyncio.create_task(runner.cleanup())
        try:
            rest = (await resp.content.read()).decode()  # a truncated body raises here
        finally:
            await stopping

    events = [line.removeprefix("data: ") for line in rest.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = orjson.loads(events[-2])["error"]
    assert error["code"] == "shutting_down" and error["type"] == "service_unavailable_error"
