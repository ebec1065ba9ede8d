"""The two tables behind team keys and budgets, the same in the memory and the redis backend."""

from __future__ import annotations

import asyncio

from tests.fakes.redis_server import redis_prefix
from tests.test_store_contract import NOW, Opener, open_store, replica

__all__ = ["open_store", "redis_prefix"]  # the fixtures

DAY_END = NOW + 86400


def record(name: str, digest: str) -> dict[str, object]:
    return {"name": name, "digest": digest, "mask": "sk-pool-…abcd", "budget": {"requests": 3}}


async def test_a_rotated_digest_stops_matching_and_records_persist(open_store: Opener) -> None:
    store = await open_store()
    assert await store.clients.put(record("carol", "d1"), new=True)
    assert not await store.clients.put(record("carol", "d9"), new=True)  # the name is taken
    other = await replica(open_store, store)
    assert (await other.clients.find("d1") or {})["name"] == "carol"
    assert await store.clients.put(record("carol", "d2"))  # rotate
    assert await other.clients.find("d1") is None
    assert (await other.clients.find("d2") or {})["budget"] == {"requests": 3}
    await store.close()
    again = await open_store()
    assert list(await again.clients.all()) == ["carol"]
    assert await again.clients.remove("carol") and not await again.clients.remove("carol")
    assert await again.clients.find("d2") is None


async def test_admission_takes_only_under_every_limit(open_store: Opener) -> None:
    counters = (await open_store()).budgets
    limits = {"requests": 2, "tokens": 100}
    assert await counters.admit("client:a:d", limits, {"requests": 1}, DAY_END) is None
    await counters.add("client:a:d", {"tokens": 100}, DAY_END)
    assert await counters.admit("client:a:d", limits, {"requests": 1}, DAY_END) == "tokens"
    assert (await counters.read(["client:a:d"]))[0] == {"requests": 1, "tokens": 100}
    await counters.add("client:a:d", {"tokens": -50, "requests": -1}, DAY_END)
    assert await counters.admit("client:a:d", limits, {"requests": 1}, DAY_END) is None
    assert await counters.admit("client:a:d", limits, {"requests": 1}, DAY_END) is None
    assert await counters.admit("client:a:d", limits, {"requests": 1}, DAY_END) == "requests"
    assert await counters.read(["client:a:d", "client:none:d"]) == [{"requests": 2, "tokens": 50}, {}]


async def test_concurrent_admissions_on_two_instances_never_pass_the_limit(open_store: Opener) -> None:
    first = await open_store()
    second = await replica(open_store, first)
    stores = (first, second)
    limits = {"requests": 20}
    verdicts = await asyncio.gather(
        *(stores[i % 2].budgets.admit("client:b:d", limits, {"requests": 1}, DAY_END) for i in range(50))
    )
    assert verdicts.count(None) == 20
    assert (await first.budgets.read(["client:b:d"]))[0]["requests"] == 20
