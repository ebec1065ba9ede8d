"""Sticky conversations: every turn of a chat goes to the account that served its start,
until that account fails; replicas agree through Redis."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.pool.sticky import anthropic_session
from proxy.state import memory
from tests.conftest import Running, base_config
from tests.fakes.openai_upstream import FakeOpenAI, error_step
from tests.fakes.redis_server import REDIS_URL, redis_prefix

__all__ = ["redis_prefix"]  # the fixture

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in (1, 2, 3)}
ACCOUNT_OF = {v: f"acct-{k}" for k, v in KEY.items()}
STICKY = {"sticky": {"enabled": True, "ttl": "1h"}}


class Conversation:
    """A chat UI's conversation: the whole history is sent again with every turn."""

    def __init__(self, system: str, first: str, **extra: Any) -> None:
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": first},
        ]
        self.extra = extra

    async def turn(self, gw: Running, upstream: FakeOpenAI, headers: dict[str, str] | None = None) -> str:
        """Send the history; returns the account that answered and adds the next user turn."""
        body = {"model": "gpt-4o", "messages": self.messages, **self.extra}
        resp = await gw.post("/v1/chat/completions", body, headers=headers or {})
        assert resp.status == 200, await resp.text()
        answer = (await resp.json())["choices"][0]["message"]["content"]
        self.messages += [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": f"and then? ({len(self.messages)})"},
        ]
        return ACCOUNT_OF[upstream.seen[-1].key]


async def other_request(gw: Running, n: int) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"unrelated question {n}"}]}
    assert (await gw.post("/v1/chat/completions", body)).status == 200


async def test_ten_turns_stay_on_one_account_under_round_robin(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=3, pool=STICKY))
    talk = Conversation("You are terse.", "Plan a trip to Lyon.")
    served = []
    for n in range(10):
        served.append(await talk.turn(gw, upstream))
        await other_request(gw, n)  # other traffic keeps the round robin turning
    assert len(set(served)) == 1
    others = {ACCOUNT_OF[s.key] for s in upstream.seen[1::2]}
    assert len(others) == 3


async def test_without_sticky_the_turns_of_a_conversation_spread(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=3))
    talk = Conversation("You are terse.", "Plan a trip to Lyon.")
    assert len({await talk.turn(gw, upstream) for _ in range(3)}) == 3


async def test_a_conversation_moves_once_when_its_account_cools(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=3, pool=STICKY))
    talk = Conversation("You are terse.", "Plan a trip to Lyon.")
    first = {await talk.turn(gw, upstream) for _ in range(3)}
    assert len(first) == 1
    (home,) = first
    upstream.script(
        KEY[int(home[-1])], error_step(429, "rate_limit_exceeded", "slow", **{"Retry-After": "60"})
    )
    moved = await talk.turn(gw, upstream)  # failover: another account answers and becomes sticky
    assert moved != home
    assert (await gw.account(home))["state"] == "cooling"
    gw.clock.advance(120)  # the old account has rested; the conversation stays where it moved
    assert {await talk.turn(gw, upstream) for _ in range(6)} == {moved}


async def test_a_session_id_keeps_requests_together_whatever_their_messages(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=3, pool=STICKY))
    header = {"x-session-id": "chat-42"}
    served = {await Conversation("s", f"question {n}").turn(gw, upstream, header) for n in range(4)}
    assert len(served) == 1
    cached = {
        await Conversation("s", f"question {n}", prompt_cache_key="cache-7").turn(gw, upstream)
        for n in range(4)
    }
    assert len(cached) == 1


async def test_the_memory_backend_remembers_a_bounded_number_of_conversations(
    upstream, start_gateway, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(memory, "STICKY_KEPT", 2)
    gw = await start_gateway(base_config(upstream, accounts=3, pool=STICKY))
    talks = [Conversation("s", f"topic {n}") for n in range(5)]
    for talk in talks:
        await talk.turn(gw, upstream)
    store = gw.gateway.store
    assert isinstance(store, memory.MemoryStore)
    assert len(store._sticky) == 2


async def test_two_replicas_keep_a_conversation_on_one_account(upstream, start_gateway, redis_prefix):
    raw = base_config(upstream, accounts=3, pool=STICKY)
    raw["state"] = {
        "backend": "redis",
        "redis_url": REDIS_URL,
        "key_prefix": redis_prefix,
        "redis_timeout": "1s",
    }
    a = await start_gateway(raw)
    b = await start_gateway(raw)
    talk = Conversation("You are terse.", "Plan a trip to Lyon.")
    served = []
    for n in range(10):
        served.append(await talk.turn((a, b)[n % 2], upstream))
        await other_request((b, a)[n % 2], n)
    assert len(set(served)) == 1


def test_claude_codes_user_id_names_its_session():
    user_id = "user_3f2a_account_7c1e-11aa_session_9b8d-22cc"
    assert anthropic_session(user_id) == "9b8d-22cc"
    assert anthropic_session("alice@example.com") == "alice@example.com"
    assert anthropic_session(None) is None


async def test_claude_codes_session_keeps_anthropic_requests_together(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=3, pool=STICKY))
    user_id = "user_3f2a_account_7c1e-11aa_session_9b8d-22cc"
    served = set()
    for n in range(4):  # different first messages: only the session ties them together
        body = {
            "model": "gpt-4o",
            "max_tokens": 50,
            "metadata": {"user_id": user_id},
            "messages": [{"role": "user", "content": f"task {n}"}],
        }
        resp = await gw.post("/v1/messages", body, headers={"anthropic-version": "2023-06-01"})
        assert resp.status == 200, await resp.text()
        served.add(ACCOUNT_OF[upstream.seen[-1].key])
    assert len(served) == 1
