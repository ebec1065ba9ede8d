"""How an OpenAI-compatible account reaches its upstream: TLS checks, and the model list it
asks the upstream for when the config names none."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from aiohttp import web

from tests.conftest import base_config, chat
from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture
async def tls_upstream(tmp_path: Path) -> AsyncIterator[FakeOpenAI]:
    """The fake upstream over HTTPS with a self-signed certificate no CA vouches for."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    fake = FakeOpenAI()
    runner = web.AppRunner(fake.app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    fake.url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


async def test_tls_verify_false_reaches_a_self_signed_upstream(tls_upstream, start_gateway):
    raw = base_config(tls_upstream, accounts=1)
    raw["accounts"][0]["tls_verify"] = False
    gw = await start_gateway(raw)
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content == "Hello from the fake upstream!"
    stream = await gw.client().chat.completions.create(**chat(), stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert len(tls_upstream.seen) == 2


async def test_tls_is_verified_by_default(tls_upstream, start_gateway):
    gw = await start_gateway(base_config(tls_upstream, accounts=1, pool={"max_attempts": 1}))
    with pytest.raises(openai.APIStatusError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.status_code in (502, 503)
    assert tls_upstream.seen == []  # the handshake failed: no request was sent in clear or at all


async def test_models_omitted_are_fetched_from_the_upstream(upstream, start_gateway):
    upstream.models = ["house-model-a", "house-model-b"]
    raw = base_config(upstream, accounts=1)
    del raw["accounts"][0]["models"]
    gw = await start_gateway(raw)
    client = gw.client()
    assert sorted([m.id async for m in client.models.list()]) == ["house-model-a", "house-model-b"]
    reply = await client.chat.completions.create(**chat("house-model-b"))
    assert reply.choices[0].message.content
    assert upstream.seen[-1].body["model"] == "house-model-b"
    with pytest.raises(openai.NotFoundError):  # the upstream's list is the account's list
        await client.chat.completions.create(**chat("gpt-4o-mini"))
