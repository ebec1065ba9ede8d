"""Image generation through Monica's image tools (upstreams.md §1.10)."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

from proxy.outcome import transient
from proxy.providers.monica.client import MonicaClient

POLL_INTERVAL = 1.0
MAX_POLLS = 180  # hard cap, whatever `expected_time` claims
ASPECTS = {"1024x1024": "1:1", "1792x1024": "16:9", "1024x1792": "9:16"}


def aspect_ratio(size: str) -> str:
    return ASPECTS.get(size, "1:1")


async def draw(client: MonicaClient, prompt: str, n: int, size: str, created: int) -> dict[str, Any]:
    """Start a text-to-image task, poll for its URLs, answer in OpenAI's images shape."""
    started = await client.post_json(
        "/api/image_tools/text_to_image",
        {
            "task_uid": str(uuid.uuid4()),
            "image_count": n,
            "prompt": prompt,
            "model_type": "sdxl",
            "aspect_ratio": aspect_ratio(size),
            "task_type": "text_to_image",
        },
        what="monica text_to_image",
    )
    task = started.get("image_tools_id")
    if task is None:
        raise transient("monica text_to_image gave no task id")
    expected = float(started.get("expected_time") or 0)
    polls = min(MAX_POLLS, max(1, math.ceil(2 * expected / POLL_INTERVAL)))
    for attempt in range(polls):
        if attempt:
            await asyncio.sleep(POLL_INTERVAL)
        data = await client.post_json(
            "/api/image_tools/loop_result", {"image_tools_id": task}, what="monica loop_result"
        )
        urls = _urls(data)
        if urls:
            return {"created": created, "data": [{"url": u, "revised_prompt": prompt} for u in urls]}
    raise transient("monica image generation did not finish in time", timeout=True)


def _urls(data: dict[str, Any]) -> list[str]:
    record = data.get("record")
    result = record.get("result") if isinstance(record, dict) else None
    urls = result.get("cdn_url_list") if isinstance(result, dict) else None
    return [str(u) for u in urls if u] if isinstance(urls, list) else []
