"""Redis clients for a `RedisTarget` (plain server or Sentinel), and what their failures raise.

The URL itself is parsed by `proxy.config.redis_url`; the names are re-exported here.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from proxy.config.redis_url import RedisTarget, parse_target

__all__ = ["FAILURES", "RedisTarget", "connect", "parse_target"]

FAILURES = (RedisError, OSError, TimeoutError)  # what a call to an unreachable Redis raises


def connect(target: RedisTarget, timeout: float | None, connect_timeout: float) -> aioredis.Redis:
    """A client for `target`; `timeout` bounds each read (None: wait, for pub/sub)."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
        "decode_responses": True,
        "retry_on_timeout": False,
        "retry": Retry(NoBackoff(), 0),  # the store has its own deadline and fallback
    }
    if target.url is not None:
        return aioredis.Redis.from_url(target.url, **options)
    assert target.service is not None
    sentinel_options: dict[str, Any] = {
        "socket_timeout": connect_timeout,
        "socket_connect_timeout": connect_timeout,
    }
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    if target.tls:
        sentinel_options["ssl"] = True
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options, **options)
    master: aioredis.Redis = sentinel.master_for(
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
    )
    return master
