"""`GET /v1/models` in Anthropic's shape, for requests that carry `anthropic-version`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def model_entry(model: str, created: float) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    return {"type": "model", "id": model, "display_name": model, "created_at": stamp}


def model_page(models: Sequence[str], created: float, query: Mapping[str, str]) -> dict[str, Any]:
    """One page of the sorted model list; `after_id` / `before_id` / `limit` as Anthropic's."""
    ids = sorted(models)
    after, before = query.get("after_id"), query.get("before_id")
    if after in ids:
        ids = ids[ids.index(after) + 1 :]
    limit = _limit(query.get("limit"))
    if before in ids:
        ids = ids[: ids.index(before)]
        page, more = ids[-limit:], len(ids) > limit
    else:
        page, more = ids[:limit], len(ids) > limit
    return {
        "data": [model_entry(m, created) for m in page],
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }


def _limit(value: str | None) -> int:
    try:
        limit = int(value) if value is not None else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT
    return min(max(limit, 1), MAX_LIMIT)
