"""The `monica` provider: request building, SSE reading, uploads, drawing, failure signals."""

from proxy.providers.monica.provider import MonicaProvider

__all__ = ["MonicaProvider"]
