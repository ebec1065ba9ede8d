"""The command line as a new user meets it: first run on the demo provider, SIGHUP reload."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import aiohttp
import yaml
from openai import AsyncOpenAI

from tests.conftest import ADMIN, base_config
from tests.processes import free_port, spawn, wait_ready


async def read_until(stream: asyncio.StreamReader, pattern: str, timeout: float = 15.0) -> tuple[str, str]:
    """Lines of `stream` up to the first match of `pattern`; returns (all text, match)."""
    seen = ""
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"stream ended before {pattern!r}:\n{seen}")
            seen += line
            found = re.search(pattern, line)
            if found:
                return seen, found.group(0)


async def test_first_run_serves_demo_and_prints_a_client_key(tmp_path):
    port = free_port()
    proc = await spawn("serve", "--port", str(port), cwd=tmp_path, output=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        log, key = await read_until(proc.stderr, r"sk-pool-[A-Za-z0-9_-]+")
        assert "demo provider" in log
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url)
        async with AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
            models = [m.id async for m in client.models.list()]
            assert "gpt-4o" in models
            reply = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hello there"}]
            )
            assert "hello there" in reply.choices[0].message.content
            stream = await client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [c async for c in stream]
            assert chunks[0].choices[0].delta.role == "assistant"
            assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_sighup_reloads_the_accounts_file(tmp_path, upstream):
    port = free_port()
    raw = base_config(upstream, accounts=2, server={"port": port})
    accounts = raw.pop("accounts")
    (tmp_path / "accounts.d.yaml").write_text(yaml.safe_dump(accounts[:1]))
    raw["accounts_file"] = "accounts.d.yaml"
    raw["state"] = {"path": str(tmp_path / "state.json")}
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(raw))
    proc = await spawn("serve", "--config", str(tmp_path / "gateway.yaml"))
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        (tmp_path / "accounts.d.yaml").write_text(yaml.safe_dump(accounts))
        proc.send_signal(signal.SIGHUP)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as http:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while True:
                async with http.get(f"{url}/admin/accounts") as resp:
                    ids = [a["id"] for a in (await resp.json())["data"]]
                if ids == ["acct-1", "acct-2"]:
                    break
                assert loop.time() < deadline, ids
                await asyncio.sleep(0.05)
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_serve_warns_when_the_example_config_keeps_its_placeholder_keys(tmp_path):
    """`cp accounts.example.yaml accounts.yaml` then `make run`, as the README says: the
    admin key anyone can read in the example must not guard the admin API unremarked."""
    example = Path(__file__).parent.parent / "accounts.example.yaml"
    (tmp_path / "accounts.yaml").write_text(example.read_text())
    port = free_port()
    proc = await spawn("serve", "--port", str(port), cwd=tmp_path, output=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        _, line = await read_until(proc.stderr, r"admin_key.*still the example's change-me.*")
        assert "clients[0].key, clients[1].key" in line
        await wait_ready(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
