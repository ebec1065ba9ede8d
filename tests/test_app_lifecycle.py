"""An app built with `create_app` and run by an `AppRunner` (embedded, no `pool-proxy serve`)
still reloads on SIGHUP and still ends open streams cleanly when it shuts down."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
import yaml

from proxy.app import create_app
from proxy.clock import FakeClock
from proxy.config import load_config, parse_config
from tests.conftest import ADMIN, ALICE, base_config, chat, serve, until
from tests.fakes.openai_upstream import FakeOpenAI, Step


@pytest.fixture
def sighup_caught() -> Iterator[list[int]]:
    """While the test runs, a SIGHUP nobody handles is recorded instead of ending pytest."""
    caught: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: caught.append(signum))
    yield caught
    signal.signal(signal.SIGHUP, previous)


def write_config(path: Path, upstream: FakeOpenAI, accounts: int) -> Path:
    state = {"path": str(path.with_suffix(".state.json"))}
    path.write_text(yaml.safe_dump(base_config(upstream, accounts=accounts, state=state)))
    return path


async def account_count(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/admin/accounts", headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
        return len((await resp.json())["data"])


async def test_sighup_reloads_every_embedded_app_and_the_last_to_stop_hands_the_signal_back(
    upstream, tmp_path, sighup_caught
):
    files = [write_config(tmp_path / name, upstream, accounts=1) for name in ("a.yaml", "b.yaml")]
    served = [await serve(create_app(load_config(path), FakeClock())) for path in files]
    (first, first_url), (second, second_url) = served
    try:
        async with aiohttp.ClientSession() as http:

            async def counts(*urls: str) -> list[int]:
                return [await account_count(http, url) for url in urls]

            for path in files:
                write_config(path, upstream, accounts=2)
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: equal(counts(first_url, second_url), [2, 2]), timeout=10)

            await second.cleanup()  # one app stops: the other still reloads
            write_config(files[0], upstream, accounts=3)
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: equal(counts(first_url), [3]), timeout=10)
            assert sighup_caught == []  # the apps' handler took both, not the test's

            await first.cleanup()  # the last app stops: SIGHUP is the embedder's again
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: sighup_caught == [signal.SIGHUP])
    finally:
        for runner, _ in served:
            await runner.cleanup()


async def equal(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_an_embedded_app_ends_a_stream_held_past_the_grace_with_an_error_event(upstream, tmp_path):
    upstream.default = Step("cut", text="one two three four")  # sends "one two", then never more
    state = {"path": str(tmp_path / "state.json")}  # not the working directory's snapshot
    raw = base_config(upstream, accounts=1, server={"shutdown_grace": "300ms"}, state=state)
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
