"""Image URLs fetched by the gateway: public addresses only, redirects checked, size and time capped."""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp import web

from proxy import fetch
from tests.conftest import base_config, served
from tests.fakes.mammouth import FakeMammouth

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00pixels" * 50


class ImageHost:
    """A local web server with images, redirects and misbehaving paths; counts every hit."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.url = ""
        self.app = web.Application()
        self.app.router.add_get("/{name}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] += 1
        if name == "cat.png":
            return web.Response(body=PNG, content_type="image/png")
        if name == "redirect":
            raise web.HTTPFound("/cat.png")
        if name.startswith("loop"):
            raise web.HTTPFound(f"/loop{len(name)}")
        if name == "to-other-host":
            raise web.HTTPFound(self.url.replace("127.0.0.1", "127.0.0.2") + "/cat.png")
        if name == "big.png":
            return web.Response(body=PNG + b"\x00" * 5000, content_type="image/png")
        if name == "page.html":
            return web.Response(text="<html>not an image</html>", content_type="text/html")
        if name == "slow.png":
            await asyncio.sleep(3600)
        raise web.HTTPNotFound()


@pytest.fixture
async def host() -> AsyncIterator[ImageHost]:
    async with served(ImageHost()) as fake:
        yield fake


def config(mammouth: FakeMammouth, *, allow_private: bool) -> dict[str, Any]:
    raw = base_config(accounts=0, server={"allow_private_fetch": allow_private})
    raw["accounts"] = [
        {"id": "mammouth-1", "provider": "mammouth", "cookie": "auth-a", "base_url": mammouth.url}
    ]
    return raw


def image_chat(url: str) -> dict[str, Any]:
    content = [{"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": "gpt-5", "messages": [{"role": "user", "content": content}]}


async def test_http_image_url_is_fetched_when_private_fetch_is_allowed(mammouth, host, start_gateway):
    gw = await start_gateway(config(mammouth, allow_private=True))
    await gw.client().chat.completions.create(**image_chat(f"{host.url}/redirect"))
    assert list(mammouth.saved.values()) == [PNG]
    assert host.hits == Counter({"redirect": 1, "cat.png": 1})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://localhost:{port}/cat.png",
        "http://[::1]:{port}/cat.png",
        "http://10.0.0.1/cat.png",
        "http://192.168.1.20/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:{port}/cat.png",
    ],
)
async def test_private_addresses_are_refused_without_fetching(mammouth, host, start_gateway, url):
    gw = await start_gateway(config(mammouth, allow_private=False))
    port = host.url.rsplit(":", 1)[1]
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(**image_chat(url.format(port=port)))
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "messages"  # type: ignore[index]
    assert "private or reserved address" in caught.value.message
    assert host.hits == Counter()
    assert mammouth.seen == []
    assert (await gw.account("mammouth-1"))["state"] == "active"  # the client's fault, not the account's


async def test_a_redirect_to_a_refused_address_is_not_followed(mammouth, host, start_gateway, monkeypatch):
    # Treat 127.0.0.1 as public and 127.0.0.2 as internal, to see the check run on the second hop.
    monkeypatch.setattr(fetch, "refused", lambda ip: str(ip) == "127.0.0.2")
    gw = await start_gateway(config(mammouth, allow_private=False))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(**image_chat(f"{host.url}/to-other-host"))
    assert "private or reserved address" in caught.value.message
    assert host.hits == Counter({"to-other-host": 1})


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("loop", "redirected more than 3 times"),
        ("big.png", "larger than"),
        ("page.html", "not a JPEG, PNG, GIF or WebP"),
        ("missing.png", "HTTP 404"),
        ("slow.png", "took longer than"),
    ],
)
async def test_unusable_image_urls_are_a_clear_400(mammouth, host, start_gateway, monkeypatch, path, message):
    monkeypatch.setattr(fetch, "MAX_IMAGE_BYTES", 1000)
    if path == "slow.png":  # a short limit only where the host never answers
        monkeypatch.setattr(fetch, "FETCH_TIMEOUT", 0.3)
    gw = await start_gateway(config(mammouth, allow_private=True))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(**image_chat(f"{host.url}/{path}"))
    assert message in caught.value.message
    assert mammouth.seen == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/cat.png", "gopher://x/"])
async def test_only_http_and_data_urls_are_accepted(mammouth, start_gateway, url):
    gw = await start_gateway(config(mammouth, allow_private=True))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(**image_chat(url))
    assert "only http(s) URLs" in caught.value.message


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00:ec2::254", True),
        ("::ffff:10.0.0.1", True),
    ],
)
def test_address_rules(address, refused):
    assert fetch.refused(ipaddress.ip_address(address)) is refused
