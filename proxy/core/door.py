"""What a protocol door provides to the shared exchange and relay (proxy/http).

A door is a translator at the edge: its request body → `ChatRequest`, the pool's
`Reply` or events → its response, and `GatewayError` → its envelope and headers.
The relay and the exchange call these; nothing below the doors imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from proxy.core.errors import GatewayError
from proxy.core.events import Event

if TYPE_CHECKING:
    from aiohttp import web

    from proxy.core.admission import ClientWindow


class StreamEncoder(Protocol):
    """One response stream in a door's wire format; every method returns bytes to send
    (possibly b"") and is called in order: start, encode…, then end or error."""

    def start(self) -> bytes: ...  # before the first event (Anthropic's message_start)

    def encode(self, event: Event) -> bytes: ...

    def end(self) -> bytes: ...  # the close of a stream that finished (OpenAI's [DONE])

    def error(self, error: GatewayError) -> bytes: ...  # the tail of a stream that broke


class Door(Protocol):
    route: str  # label for logs and metrics: chat, messages, responses, images, embeddings

    def error_response(self, error: GatewayError, headers: dict[str, str]) -> web.Response: ...

    # the client's request bucket in the door's own rate-limit headers ({} for none)
    def limit_headers(self, window: ClientWindow | None) -> dict[str, str]: ...
