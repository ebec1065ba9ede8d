"""Every answer names the gateway, never the Python and aiohttp versions it runs on."""

from __future__ import annotations

import asyncio

from tests.conftest import base_config, chat
from tests.processes import free_port, spawn, wait_ready


async def test_every_response_says_server_pool_proxy_and_no_versions(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    answers = {
        "models": await gw.http.get(f"{gw.url}/v1/models", headers={"Authorization": "Bearer " + "x" * 8}),
        "health": await gw.http.get(f"{gw.url}/healthz"),
        "completion": await gw.post("/v1/chat/completions", chat()),
        "stream": await gw.post("/v1/chat/completions", chat(stream=True)),
        "bad request": await gw.post("/v1/chat/completions", {"model": "gpt-4o-mini"}),
        "no route": await gw.http.get(f"{gw.url}/v1/nothing-here"),
        "wrong method": await gw.http.delete(f"{gw.url}/v1/chat/completions"),
    }
    statuses = {name: resp.status for name, resp in answers.items()}
    assert statuses == {
        "models": 401,
        "health": 200,
        "completion": 200,
        "stream": 200,
        "bad request": 400,
        "no route": 404,
        "wrong method": 405,
    }
    assert answers["stream"].content_type == "text/event-stream"
    for resp in answers.values():
        await resp.read()
        assert resp.headers.getall("Server") == ["pool-proxy"]


async def test_a_request_line_aiohttp_cannot_parse_gets_no_versions_either(tmp_path):
    port = free_port()
    proc = await spawn("serve", "--port", str(port), cwd=tmp_path)
    try:
        await wait_ready(f"http://127.0.0.1:{port}", alive=lambda: proc.returncode is None)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT A REQUEST\r\nHost: x\r\n\r\n")
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        writer.close()
        assert head.startswith("HTTP/1.0 400")
        assert "\r\nServer: pool-proxy\r\n" in head
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
