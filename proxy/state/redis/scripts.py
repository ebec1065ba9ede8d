"""The Lua scripts (proxy/state/lua/*.lua) and the argument lists they expect.

Each script runs atomically inside Redis; the wrappers here only lay out KEYS and
ARGV and decode the answer, so the rules live in one place: the script. With a `Pipe`,
the calls every request makes (admit, release, refresh) go through it; the rest through
redis-py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from proxy.core.admission import (
    Admission,
    Ask,
    Blocker,
    Candidate,
    ClientWindow,
    Lease,
    Refusal,
)
from proxy.state.order import order, weighted_cycle
from proxy.state.redis.keys import Keys
from proxy.state.redis.pipe import Pipe


def _source(name: str) -> str:
    return resources.files("proxy.state").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Layout:
    """The per-candidate part of an admit call, which is the same for every request."""

    keys: tuple[str, ...]
    args: tuple[str, ...]
    cycle: str


def _rate(limit: Any) -> tuple[str, str]:
    return (repr(float(limit.rate)), str(limit.burst)) if limit is not None else ("", "0")


class Scripts:
    def __init__(self, client: aioredis.Redis, keys: Keys, pipe: Pipe | None = None) -> None:
        self.keys = keys
        self.pipe = pipe
        self._admit: AsyncScript = client.register_script(_source("admit"))
        self._release: AsyncScript = client.register_script(_source("release"))
        self._refresh: AsyncScript = client.register_script(_source("refresh"))
        self._update: AsyncScript = client.register_script(_source("update"))
        self._count: AsyncScript = client.register_script(_source("count"))
        self._hold: AsyncScript = client.register_script(_source("hold"))
        self._layouts: dict[tuple[Candidate, ...], Layout] = {}

    async def _hot(self, script: AsyncScript, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
        """A per-request call: on the pipe when there is one."""
        if self.pipe is not None:
            return await self.pipe.evalsha(script, keys, args)
        return await script(keys=keys, args=args)

    def layout(self, candidates: Sequence[Candidate]) -> Layout:
        found = self._layouts.get(tuple(candidates))
        if found is None:
            keys: list[str] = []
            args: list[str] = []
            for c in candidates:
                k = self.keys
                keys += [k.status(c.id), k.probe(c.id), k.leases(c.id), k.account_bucket(c.id)]
                rate, burst = _rate(c.limit)
                args += [rate, burst, str(c.max_concurrency or 0), str(c.weight)]
            index = {c.id: i + 1 for i, c in enumerate(candidates)}
            cycle = ",".join(str(index[c.id]) for c in weighted_cycle(candidates))
            found = Layout(tuple(keys), tuple(args), cycle)
            if len(self._layouts) > 1024:
                self._layouts.clear()
            self._layouts[tuple(candidates)] = found
        return found

    async def admit(self, ask: Ask, lease_ttl: float, token: str) -> tuple[Admission, int]:
        """The admission, and the chosen account's lease count (0 when refused)."""
        client, candidates, strategy, exclude = ask.client, ask.candidates, ask.strategy, ask.exclude
        if strategy == "random":
            candidates = order(candidates, "random", 0, lambda _: 0)  # pre-shuffled here
            mode = "fixed"
        else:
            mode = strategy
        layout = self.layout(candidates)
        limit = client.limit if client is not None else None
        rate, burst = _rate(limit)
        take = "1" if client is not None and client.take else "0"
        client_key = self.keys.client_bucket(client.name if client else "")
        keys: tuple[str, ...] = (client_key, self.keys.cursor(ask.cursor_key), *layout.keys)
        args: list[str] = [
            repr(ask.now),
            take,
            rate,
            burst,
            mode,
            str(int(lease_ttl * 1000)),
            token,
            str(len(candidates)),
            layout.cycle,
            "1" if exclude else "0",
        ]
        for i, c in enumerate(candidates):
            args.append("1" if c.id in exclude else "0")
            args.extend(layout.args[i * 4 : i * 4 + 4])
        if ask.sticky is not None:
            keys = (*keys, self.keys.sticky(ask.sticky.key))
            args.append(str(max(1, int(ask.sticky.ttl * 1000))))
        raw = await self._hot(self._admit, keys, args)
        return _admission(orjson.loads(raw), candidates, token)

    async def hold(self, candidate: Candidate, lease_ttl: float, token: str) -> int:
        """A lease on this account whatever its state; the live count, or -1 when full."""
        keys = (self.keys.leases(candidate.id),)
        args = (str(candidate.max_concurrency or 0), str(int(lease_ttl * 1000)), token)
        return int(await self._hot(self._hold, keys, args))

    async def release(self, lease: Lease, message: bytes, limit: int = 0) -> None:
        """Free the lease; `message` goes out if the account was full (`limit`) or probing."""
        await self.release_many([(lease, message, limit)])

    async def release_many(self, leases: Sequence[tuple[Lease, bytes, int]]) -> None:
        keys: list[str] = []
        args: list[str | bytes] = [self.keys.events]
        for lease, message, limit in leases:
            keys += [self.keys.leases(lease.account_id), self.keys.probe(lease.account_id)]
            args += [lease.token, str(limit), message]
        await self._hot(self._release, keys, args)

    async def refresh(self, leases: Sequence[Lease], lease_ttl: float) -> int:
        keys: list[str] = []
        for lease in leases:
            keys += [self.keys.leases(lease.account_id), self.keys.probe(lease.account_id)]
        args = [str(int(lease_ttl * 1000)), *(lease.token for lease in leases)]
        return int(await self._hot(self._refresh, keys, args))

    async def counts(self, account_ids: Sequence[str]) -> dict[str, int]:
        """Live leases per account, held by any replica (what `in_flight` reports)."""
        if not account_ids:
            return {}
        keys = [self.keys.leases(account_id) for account_id in account_ids]
        raw = await self._hot(self._count, keys, ())
        return {account_id: int(n) for account_id, n in zip(account_ids, raw, strict=True)}

    async def update(
        self,
        account_id: str,
        expected: int,
        version: int,
        state: str,
        until: float | None,
        doc: str,
        message: bytes,
    ) -> int:
        """Write `version` if the status is still at `expected`; -1 when someone was first."""
        keys = (self.keys.status(account_id), self.keys.accounts)
        until_arg = repr(until) if until is not None else ""
        args = (str(expected), state, until_arg, doc, account_id, self.keys.events, message, str(version))
        return int(await self._update(keys=keys, args=args))


def _admission(raw: dict[str, Any], candidates: Sequence[Candidate], token: str) -> tuple[Admission, int]:
    window = None
    if "client" in raw:
        limit, remaining, reset = raw["client"]
        window = ClientWindow(int(limit), int(remaining), float(reset))
    if "wait" in raw:
        return Admission(None, window, client_wait=float(raw["wait"])), 0
    if "lease" in raw:
        chosen = candidates[int(raw["lease"]) - 1]
        return Admission(Lease(chosen.id, token, bool(raw["probe"])), window), int(raw["count"])
    refusals = raw.get("refusals") or []  # cjson encodes an empty list as {}
    return Admission(
        None,
        window,
        refusals=tuple(
            Refusal(
                candidates[int(r["id"]) - 1].id,
                Blocker(r["blocker"]),
                float(r["ready_at"]) if r.get("ready_at") is not None else None,
            )
            for r in refusals
        ),
    ), 0
