"""SIGTERM: stop accepting, let open streams finish within the grace, flush state, exit 0."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
import yaml

from tests.conftest import ALICE, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, Step
from tests.processes import free_port, spawn, wait_ready


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    url: str
    state: Path

    async def exit_code(self, timeout: float) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)


@pytest.fixture
async def serve_process(tmp_path: Path) -> AsyncIterator[object]:
    """Start `python -m proxy serve` as a real process; kill it if a test leaves it running."""
    started: list[Process] = []

    async def start(upstream: FakeOpenAI, grace: str) -> Process:
        port = free_port()
        raw = base_config(upstream, accounts=1, server={"port": port, "shutdown_grace": grace})
        raw["state"] = {"path": str(tmp_path / "state.json")}
        config = tmp_path / "accounts.yaml"
        config.write_text(yaml.safe_dump(raw))
        proc = await spawn("serve", "--config", str(config))
        process = Process(proc, f"http://127.0.0.1:{port}", tmp_path / "state.json")
        started.append(process)
        await wait_ready(process.url, alive=lambda: proc.returncode is None)
        return process

    yield start
    for process in started:
        if process.proc.returncode is None:
            process.proc.kill()
            await process.proc.wait()


async def open_stream(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    resp = await http.post(
        f"{url}/v1/chat/completions",
        json=chat(stream=True),
        headers={"Authorization": f"Bearer {ALICE}"},
    )
    assert resp.status == 200
    assert (await resp.content.readline()).startswith(b"data: ")  # the stream is open
    return resp


async def read_rest(resp: aiohttp.ClientResponse) -> str:
    """Everything the client gets until the server ends the response."""
    parts = []
    try:
        async for line in resp.content:
            parts.append(line.decode())
    except aiohttp.ClientPayloadError as exc:
        raise AssertionError(f"the stream was not ended cleanly: {exc}") from None
    return "".join(parts)


async def refuses_connections(url: str) -> bool:
    # Bounded: a probe that got in just as the server stopped listening may get no answer
    # until the drain is over, and would hold the poll past the grace the test relies on.
    timeout = aiohttp.ClientTimeout(total=2)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(f"{url}/healthz") as resp:
            await resp.read()
        return False
    except TimeoutError:  # (before ClientConnectionError: aiohttp's timeouts are both)
        return False  # connected, not answered: ask again
    except aiohttp.ClientConnectionError:
        return True


async def test_sigterm_lets_an_open_stream_finish_and_flushes_state(upstream, serve_process):
    more = asyncio.Event()  # the upstream sends its first word, then the rest once the door is shut
    upstream.default = Step(text="one two three four five six seven eight", hold=more, hold_after=1)
    gateway = await serve_process(upstream, "30s")
    async with aiohttp.ClientSession() as http:
        resp = await open_stream(http, gateway.url)
        await until(lambda: upstream.held == 1)
        gateway.proc.send_signal(signal.SIGTERM)
        await until(lambda: refuses_connections(gateway.url), timeout=15)
        more.set()
        rest = await read_rest(resp)
    assert "eight" in rest and '"finish_reason":"stop"' in rest
    assert rest.rstrip().endswith("data: [DONE]")
    assert await gateway.exit_code(10) == 0

    usage = orjson.loads(gateway.state.read_bytes())["usage"]
    (day,) = usage.values()
    assert day["client"]["alice"]["requests"] == 1
    assert day["client"]["alice"]["failures"] == 0
    assert day["account"]["acct-1"]["requests"] == 1


async def test_stream_longer_than_the_grace_ends_with_an_error_event(upstream, serve_process):
    # the upstream never sends more than its first word: only the grace can end this stream
    upstream.default = Step(text="one two three", hold=asyncio.Event(), hold_after=1)
    gateway = await serve_process(upstream, "500ms")
    async with aiohttp.ClientSession() as http:
        resp = await open_stream(http, gateway.url)
        await until(lambda: upstream.held == 1)
        gateway.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):  # a failure, not a hang, if the grace is ignored
            rest = await read_rest(resp)
    events = [line for line in rest.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    error = orjson.loads(events[-2].removeprefix("data: "))["error"]
    assert error["code"] == "shutting_down" and error["type"] == "service_unavailable_error"
    assert await gateway.exit_code(10) == 0
    usage = orjson.loads(gateway.state.read_bytes())["usage"]
    (day,) = usage.values()
    assert day["client"]["alice"]["requests"] == 1  # the cut stream is still counted
