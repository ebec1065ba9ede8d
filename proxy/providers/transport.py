"""What every HTTP upstream call shares: read timeouts, transport failures classified
as `transient`, and a bounded read of a failed answer's body."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from proxy.outcome import transient

ERROR_BODY_MAX = 8192  # bytes of a failed answer kept for classification


@functools.lru_cache(maxsize=32)
def read_timeout(idle: float) -> aiohttp.ClientTimeout:
    """No total limit (answers may stream for long), but at most `idle` seconds of silence."""
    return aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=idle)


@contextmanager
def transport_errors(upstream: str, doing: str = "connection") -> Iterator[None]:
    """Timeouts and connection errors inside the block become a `transient` UpstreamError."""
    try:
        yield
    except TimeoutError:
        raise transient(f"{upstream} timed out", timeout=True) from None
    except aiohttp.ClientError as exc:
        raise transient(f"{upstream} {doing} failed: {type(exc).__name__}") from None


async def error_body(resp: aiohttp.ClientResponse) -> bytes:
    """The start of a failed answer's body; the connection is dropped afterwards."""
    try:
        return await resp.content.read(ERROR_BODY_MAX)
    except (TimeoutError, aiohttp.ClientError):
        return b""
    finally:
        resp.close()
