"""`state.redis_url` forms: plain, TLS, password, db, unix socket and Sentinel."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from proxy.clock import FakeClock
from proxy.config import ConfigError, StateConfig, parse_config
from proxy.core.account import AccountStatus, State
from proxy.state.redis import RedisStore
from proxy.state.redis.target import RedisTarget, parse_target
from tests.fakes.redis_server import PrivateRedis, PrivateSentinel


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:s3cret@redis.internal:6380/2",
        "rediss://user:s3cret@managed.example.com:6380/1",
        "unix:///run/redis/redis.sock?db=3",
    ],
)
def test_plain_urls_go_to_redis_py_as_they_are(url: str) -> None:
    target = parse_target(url)
    assert target.url == url and not target.sentinels
    assert target.tls == url.startswith("rediss://")


def test_sentinel_url_lists_sentinels_service_and_db() -> None:
    target = parse_target("redis+sentinel://:p%40ss@s1:26379,s2:26380,[::1]/mymaster/4")
    assert target == RedisTarget(
        sentinels=(("s1", 26379), ("s2", 26380), ("::1", 26379)),
        service="mymaster",
        db=4,
        password="p@ss",
    )


def test_sentinel_url_options() -> None:
    target = parse_target("redis+sentinel://app:pw@s1/cache?sentinel_password=sp&ssl=true")
    assert (target.username, target.password, target.sentinel_password) == ("app", "pw", "sp")
    assert target.service == "cache" and target.db == 0 and target.tls


def test_sentinel_master_key_turns_a_plain_url_into_a_sentinel_list() -> None:
    target = parse_target("rediss://:pw@s1:26379,s2:26379/2", sentinel_master="primary")
    assert target.sentinels == (("s1", 26379), ("s2", 26379))
    assert (target.service, target.db, target.password, target.tls) == ("primary", 2, "pw", True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://s1:26379", "service name"),
        ("redis+sentinel:///mymaster", "host:port"),
        ("redis+sentinel://s1:port/mymaster", "bad port"),
        ("redis+sentinel://s1/mymaster/zero", "database number"),
        ("memcached://x", "scheme"),
        ("127.0.0.1:6379", "must start with"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(url)


def test_config_names_a_bad_redis_url_and_lease_ttl() -> None:
    state = {"backend": "redis", "redis_url": "redis+sentinel://s1:26379", "lease_ttl": 0}
    with pytest.raises(ConfigError) as caught:
        parse_config({"state": state})
    assert any(e.startswith("state.redis_url:") and "service name" in e for e in caught.value.errors)
    assert "state.lease_ttl: must be a positive duration" in caught.value.errors


def test_config_reads_lease_ttl() -> None:
    config = parse_config({"state": {"backend": "redis", "lease_ttl": "45s"}})
    assert config.state.lease_ttl == 45.0


async def test_the_store_finds_its_master_through_sentinel(tmp_path: Path) -> None:
    master = PrivateRedis()
    await master.start()
    sentinel = PrivateSentinel(master.port, tmp_path)
    try:
        await sentinel.start()
        url = f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/0"
        config = StateConfig(backend="redis", redis_url=url, key_prefix="sentinel-test:", redis_timeout=1.0)
        store = RedisStore(config, FakeClock())
        await store.start()
        try:
            assert not store.degraded
            await store.update("acct", lambda s: AccountStatus(State.DISABLED))
            direct = aioredis.Redis.from_url(master.url, decode_responses=True)
            assert await direct.hget("sentinel-test:v1:status:acct", "state") == "disabled"
            await direct.aclose()
        finally:
            await store.close()
    finally:
        sentinel.stop()
        master.stop()
