"""What every HTTP upstream call shares: read timeouts, transport failures classified
as `transient`, and a bounded read of a failed answer's body."""

from __future__ import annotations

import functools

import aiohttp

from proxy.outcome import transient

ERROR_BODY_MAX = 8192  # bytes of a failed answer kept for classification


@functools.lru_cache(maxsize=32)
def read_timeout(idle: float) -> aiohttp.ClientTimeout:
    """No total limit (answers may stream for long), but at most `idle` seconds of silence."""
    return aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=idle)


class transport_errors:
    """Timeouts and connection errors inside the block become a `transient` UpstreamError.

    A class rather than a generator-based context manager: it sits on the hot path.
    """

    __slots__ = ("doing", "upstream")

    def __init__(self, upstream: str, doing: str = "connection") -> None:
        self.upstream = upstream
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            return
        if issubclass(kind, TimeoutError):
            raise transient(f"{self.upstream} timed out", timeout=True) from None
        if issubclass(kind, aiohttp.ClientError):
            raise transient(f"{self.upstream} {self.doing} failed: {kind.__name__}") from None


async def error_body(resp: aiohttp.ClientResponse) -> bytes:
    """The start of a failed answer's body; the connection is dropped afterwards."""
    try:
        return await resp.content.read(ERROR_BODY_MAX)
    except (TimeoutError, aiohttp.ClientError):
        return b""
    finally:
        resp.close()
