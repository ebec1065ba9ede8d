"""Image bytes for providers that must upload them: data URLs and guarded http(s) fetches.

A client must not be able to make the gateway reach inside its network (DESIGN §8):
names are resolved and every address checked before connecting, the connection goes
to the checked address (a resolver that refuses, so DNS rebinding gains nothing),
redirects are followed by hand and each hop is checked again. Any problem with the
image is the client's to fix, so it becomes a 400 naming `messages`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from proxy.errors import envelope
from proxy.outcome import UpstreamError, client_error

MAX_IMAGE_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT = 15.0
MAX_REDIRECTS = 3

# Cloud metadata endpoints, named even where a broader rule already covers them.
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


@dataclass(frozen=True)
class Image:
    data: bytes
    mime: str  # sniffed from the bytes: image/jpeg, image/png, image/gif or image/webp
    ext: str


def bad_image(message: str) -> UpstreamError:
    """The 400 a client gets for an image the gateway cannot use."""
    text = f"Invalid image in 'messages': {message}"
    return client_error(text, 400, envelope(text, "invalid_request_error", "invalid_image_url", "messages"))


def sniff(data: bytes) -> Image:
    for magic, mime, ext in _MAGIC:
        if data.startswith(magic):
            return Image(data, mime, ext)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Image(data, "image/webp", "webp")
    raise bad_image("the data is not a JPEG, PNG, GIF or WebP image.")


async def load_image(url: str, *, allow_private: bool) -> Image:
    """The bytes of an `image_url`: a base64 data URL or a guarded http(s) download."""
    if url.startswith("data:"):
        return decode_data_url(url)
    return sniff(await fetch(url, allow_private=allow_private))


def decode_data_url(url: str) -> Image:
    header, sep, payload = url.partition(",")
    if not sep or ";base64" not in header:
        raise bad_image("a data URL must look like 'data:image/png;base64,<data>'.")
    if len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 8:
        raise bad_image(f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB.")
    try:
        data = base64.b64decode(payload.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise bad_image("the data URL is not valid base64.") from None
    if not data:
        raise bad_image("the data URL holds no data.")
    return sniff(data)


def refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is inside some network rather than on the public internet."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip in _METADATA
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


class GuardedResolver(AbstractResolver):
    """Resolves a name and hands aiohttp only addresses that passed the check."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except OSError:
            raise bad_image(f"the host '{host}' of the image URL cannot be resolved.") from None
        results: list[ResolveResult] = []
        for fam, _, proto, _, address in infos:
            ip = ipaddress.ip_address(address[0])
            if not self.allow_private and refused(ip):
                raise bad_image(f"the image URL points to a private or reserved address ({host}).")
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(ip),
                    port=int(address[1]),
                    family=fam,
                    proto=proto,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        if not results:
            raise bad_image(f"the host '{host}' of the image URL has no address.")
        return results

    async def close(self) -> None:
        return None


def _check_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_image("only http(s) URLs and base64 data URLs are accepted.")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    # aiohttp connects to IP literals without asking the resolver, so check them here.
    if not allow_private and refused(literal):
        raise bad_image("the image URL points to a private or reserved address.")


async def fetch(url: str, *, allow_private: bool) -> bytes:
    """GET an image URL: http(s) only, public addresses only, size-capped, time-bounded."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private), use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for _ in range(MAX_REDIRECTS + 1):
                _check_url(url, allow_private)
                async with session.get(url, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = urljoin(url, resp.headers["Location"])
                        continue
                    if resp.status != 200:
                        raise bad_image(f"fetching the image URL gave HTTP {resp.status}.")
                    return await _read_capped(resp)
            raise bad_image(f"the image URL redirected more than {MAX_REDIRECTS} times.")
    except TimeoutError:
        raise bad_image(f"fetching the image URL took longer than {FETCH_TIMEOUT:g}s.") from None
    except aiohttp.ClientError as exc:
        raise bad_image(f"the image URL could not be fetched ({type(exc).__name__}).") from None


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    too_big = bad_image(f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB.")
    if (resp.content_length or 0) > MAX_IMAGE_BYTES:
        raise too_big
    data = bytearray()
    async for block in resp.content.iter_chunked(64 * 1024):
        data += block
        if len(data) > MAX_IMAGE_BYTES:
            raise too_big
    return bytes(data)


__all__ = [
    "MAX_IMAGE_BYTES",
    "Image",
    "bad_image",
    "decode_data_url",
    "fetch",
    "load_image",
    "refused",
    "sniff",
]
