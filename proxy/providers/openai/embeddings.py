"""`openai` embeddings: one POST to `{base_url}/embeddings`, failures read as chat's are."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from proxy.clock import Clock
from proxy.outcome import transient
from proxy.providers.openai.signals import classify_openai
from proxy.providers.transport import transport_errors


async def post_embeddings(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout: aiohttp.ClientTimeout,
    clock: Clock,
) -> dict[str, Any]:
    """The upstream's `list` of embeddings, or an `UpstreamError` with its outcome."""
    with transport_errors("upstream"):
        async with http.post(url, data=orjson.dumps(body), headers=headers, timeout=timeout) as resp:
            with transport_errors("upstream", "read"):
                data = await resp.read()
    if resp.status != 200:
        raise classify_openai(resp.status, resp.headers, data, clock.now())
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise transient("upstream answered 200 with a body that is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise transient("upstream answered 200 without embeddings")
    return answer
