"""One model name served by Monica, Mammouth and OpenAI-compatible accounts together."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.config.load import config_from_env
from proxy.providers.monica import draw
from tests.conftest import base_config, chat
from tests.fakes.mammouth import FakeMammouth
from tests.fakes.mammouth import Step as MammouthStep
from tests.fakes.monica import FakeMonica
from tests.fakes.monica import Step as MonicaStep
from tests.fakes.openai_upstream import FakeOpenAI, error_step


def mixed_config(monica: FakeMonica, mammouth: FakeMammouth, upstream: FakeOpenAI) -> dict[str, Any]:
    raw = base_config(upstream, accounts=1, pool={"max_attempts": 3})
    raw["accounts"] = [
        {"id": "monica-1", "provider": "monica", "cookie": "sess-a", "base_url": monica.url},
        {"id": "mammouth-1", "provider": "mammouth", "cookie": "auth-a", "base_url": mammouth.url},
        *raw["accounts"],  # acct-1, openai, serving gpt-4o-mini
    ]
    return raw


async def test_every_provider_serves_the_shared_model_in_turn(monica, mammouth, upstream, start_gateway):
    gw = await start_gateway(mixed_config(monica, mammouth, upstream))
    client = gw.client()
    answers = [(await client.chat.completions.create(**chat())).choices[0].message.content for _ in range(3)]
    assert sorted(answers) == sorted(
        ["Hello from Monica!", "Hello from Mammouth!", "Hello from the fake upstream!"]
    )
    assert monica.seen[0].body["bot_uid"] == "gpt_4_o_mini_chat"
    assert mammouth.seen[0].model == "openai-gpt-4o-mini"


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_failover_crosses_providers_until_one_answers(
    monica, mammouth, upstream, start_gateway, stream
):
    monica.script("sess-a", MonicaStep("status", 401, "unauthorized"))
    mammouth.script("auth-a", MammouthStep("status", 403, '{"message":"Usage limit reached"}'))
    gw = await start_gateway(mixed_config(monica, mammouth, upstream))
    client = gw.client()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**chat(stream=True))]
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[0].choices[0].delta.role == "assistant"
    else:
        answer = (await client.chat.completions.create(**chat())).choices[0].message.content
    assert answer == "Hello from the fake upstream!"
    assert (await gw.account("monica-1"))["state"] == "invalid"
    assert (await gw.account("mammouth-1"))["state"] == "exhausted"
    assert (await gw.account("acct-1"))["state"] == "active"


async def test_openai_failure_fails_over_to_a_cookie_account(monica, mammouth, upstream, start_gateway):
    raw = mixed_config(monica, mammouth, upstream)
    raw["accounts"] = [raw["accounts"][2], raw["accounts"][0]]  # openai first, then monica
    upstream.script(
        "sk-upstream-1-secretvalue", error_step(429, "rate_limit_exceeded", **{"Retry-After": "20"})
    )
    gw = await start_gateway(raw)
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content == "Hello from Monica!"
    assert (await gw.account("acct-1"))["state"] == "cooling"


async def test_images_go_only_to_accounts_that_can_draw(
    monica, mammouth, upstream, start_gateway, monkeypatch
):
    monkeypatch.setattr(draw, "POLL_INTERVAL", 0.01)
    gw = await start_gateway(mixed_config(monica, mammouth, upstream))
    for _ in range(2):
        result = await gw.client().images.generate(prompt="a lighthouse")
        assert len(result.data) == 1
    assert len(monica.drawings) == 2


async def test_images_without_a_drawing_account_are_404(mammouth, upstream, start_gateway):
    raw = base_config(upstream, accounts=1)
    raw["accounts"].append(
        {"id": "mammouth-1", "provider": "mammouth", "cookie": "auth-a", "base_url": mammouth.url}
    )
    gw = await start_gateway(raw)
    resp = await gw.post("/v1/images/generations", {"prompt": "a cat"})
    assert resp.status == 404
    assert "generate images" in (await resp.json())["error"]["message"]


def test_env_only_start_creates_one_account_per_cookie():
    config = config_from_env(
        {
            "MONICA_COOKIE": "session_id=aaa, bbb",
            "BOT_UID": "bot-9",
            "ENABLE_CUSTOM_BOT_MODE": "true",
            "COOKIES": "m1,m2,m3",
            "BEARER_TOKEN": "sk-client-token-1234",
        }
    )
    accounts = {a.id: a for a in config.accounts}
    assert sorted(accounts) == ["mammouth-1", "mammouth-2", "mammouth-3", "monica-1", "monica-2"]
    assert accounts["monica-2"].cookie == "bbb"
    assert accounts["monica-1"].custom_bot_uid == "bot-9"
    assert accounts["monica-1"].base_url == "https://api.monica.im"
    assert accounts["mammouth-3"].cookie == "m3"
    assert accounts["mammouth-1"].base_url == "https://mammouth.ai"
    assert [c.key for c in config.clients] == ["sk-client-token-1234"]


def test_env_mammouth_cookies_wins_over_cookies_and_custom_bot_needs_enabling():
    config = config_from_env(
        {"MONICA_COOKIE": "x", "BOT_UID": "bot-9", "MAMMOUTH_COOKIES": "a", "COOKIES": "b,c"}
    )
    accounts = {a.id: a for a in config.accounts}
    assert sorted(accounts) == ["mammouth-1", "monica-1"]
    assert accounts["mammouth-1"].cookie == "a"
    assert accounts["monica-1"].custom_bot_uid is None
