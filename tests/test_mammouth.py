"""Mammouth accounts through the real gateway and the official SDK, against a checking fake."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from proxy.core.events import Finish, TextDelta, Usage
from tests.conftest import HUNG_AFTER, base_config, chat
from tests.fakes.mammouth import FakeMammouth, Step
from tests.provider_kit import events_of, provider_of, request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00fake-png-body" * 20
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def mammouth_config(fake: FakeMammouth, *sessions: str, **account: Any) -> dict[str, Any]:
    config = base_config(accounts=0, pool={"failure_threshold": 1})
    config["accounts"] = [
        {"id": f"mammouth-{i}", "provider": "mammouth", "cookie": s, "base_url": fake.url, **account}
        for i, s in enumerate(sessions or ("auth-a",), start=1)
    ]
    return config


@pytest.fixture(autouse=True)
def wire_format_was_right(mammouth: FakeMammouth):  # type: ignore[no-untyped-def]
    yield
    assert mammouth.problems == []


async def test_nonstream_answer_maps_the_model_and_estimates_usage(mammouth, start_gateway):
    gw = await start_gateway(mammouth_config(mammouth))
    reply = await gw.client().chat.completions.create(**chat("claude-sonnet-4-20250514", "Hello"))
    assert reply.choices[0].message.content == "Hello from Mammouth!"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    seen = mammouth.seen[0]
    assert seen.model == "anthropic-claude-4-2025-05-14"
    assert seen.headers["Cookie"] == "auth_session=auth-a"
    assert seen.preprompt == ""
    assert seen.messages == [{"content": "Hello", "imagesData": [], "documentsData": []}]


async def test_stream_works_with_the_sdk_stream_helper(mammouth, start_gateway):
    gw = await start_gateway(mammouth_config(mammouth))
    async with gw.client().chat.completions.stream(**chat("gpt-5")) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from Mammouth!"
    assert final.choices[0].message.role == "assistant"


@pytest.mark.parametrize("stream", [False, True])
async def test_multibyte_text_split_inside_characters_arrives_whole(mammouth, start_gateway, stream):
    text = "Ça marche: 你好世界 😀🎉 ünïcödé"
    mammouth.default = Step(text=text, split=1)  # every byte its own write
    gw = await start_gateway(mammouth_config(mammouth))
    client = gw.client()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**chat("gpt-5", stream=True))]
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert all("\ufffd" not in (c.choices[0].delta.content or "") for c in chunks if c.choices)
    else:
        answer = (await client.chat.completions.create(**chat("gpt-5"))).choices[0].message.content
    assert answer == text


async def test_system_messages_become_the_preprompt_and_turns_are_parts(mammouth, start_gateway):
    gw = await start_gateway(mammouth_config(mammouth))
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Again"},
    ]
    await gw.client().chat.completions.create(model="gpt-5", messages=messages)
    seen = mammouth.seen[0]
    assert seen.preprompt == "Be terse.\n\nAnswer in French."
    assert [m["content"] for m in seen.messages] == ["Hi\nthere", ".", "Again"]


@pytest.mark.parametrize("stream", [False, True])
async def test_json_body_content_is_the_answer_without_outer_quotes(mammouth, start_gateway, stream):
    mammouth.default = Step("json", body='{"content": "\\"Quoted answer\\""}')
    gw = await start_gateway(mammouth_config(mammouth))
    client = gw.client()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**chat("gpt-5", stream=True))]
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        answer = (await client.chat.completions.create(**chat("gpt-5"))).choices[0].message.content
    assert answer == "Quoted answer"


async def test_models_lists_the_mammouth_table(mammouth, start_gateway):
    gw = await start_gateway(mammouth_config(mammouth))
    ids = {m.id async for m in gw.client().models.list()}
    assert ids == {  # upstreams.md §2.5, written out: not read from the code
        "claude-sonnet-4-20250514",
        "gpt-4o-mini",
        "gemini-2.5-pro",
        "grok-4",
        "gpt-5-thinking",
        "gpt-5",
        "gpt-5-mini",
    }


@pytest.mark.parametrize(("model", "upstream_id"), [("grok-4", "xai-grok-4-0709"), ("gpt-5", "openai-gpt-5")])
async def test_table_names_map_to_their_mammouth_id(mammouth, start_gateway, model, upstream_id):
    gw = await start_gateway(mammouth_config(mammouth))
    await gw.client().chat.completions.create(**chat(model))
    assert mammouth.seen[0].model == upstream_id


async def test_unknown_model_passes_through_when_admitted(mammouth, start_gateway):
    gw = await start_gateway(mammouth_config(mammouth, models=["*"]))
    await gw.client().chat.completions.create(**chat("openai-o4-mini"))
    assert mammouth.seen[0].model == "openai-o4-mini"


async def test_tools_are_dropped_with_a_header(mammouth, start_gateway):
    config = mammouth_config(mammouth)
    config["pool"]["unsupported_tools"] = "drop"  # emulation (the default) is tests/test_tools_*.py
    gw = await start_gateway(config)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    raw = await gw.client().chat.completions.with_raw_response.create(**chat("gpt-5"), tools=tools)
    assert raw.headers["x-pool-proxy-dropped"] == "tools"
    assert raw.parse().choices[0].message.content == "Hello from Mammouth!"
    with pytest.raises(openai.BadRequestError):
        await gw.client().chat.completions.create(
            **chat("gpt-5"), tools=tools, tool_choice={"type": "function", "function": {"name": "lookup"}}
        )


def image_chat(url: str, text: str = "Describe this") -> dict[str, Any]:
    content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": "gpt-5", "messages": [{"role": "user", "content": content}]}


async def test_image_is_saved_once_and_its_location_sent(mammouth, start_gateway):
    gw = await start_gateway(mammouth_config(mammouth))
    client = gw.client()
    await client.chat.completions.create(**image_chat(PNG_URL))
    await client.chat.completions.create(**image_chat(PNG_URL, "Again"))
    assert list(mammouth.saved.values()) == [PNG]  # the second request used the cache
    (name,) = mammouth.saved
    assert mammouth.seen[1].messages == [
        {"content": "Again", "imagesData": [f"{mammouth.url}/storage/{name}"], "documentsData": []}
    ]


async def test_image_only_turn_sends_a_dot(mammouth, start_gateway):
    gw = await start_gateway(mammouth_config(mammouth))
    content = [{"type": "image_url", "image_url": {"url": PNG_URL}}]
    await gw.client().chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": content}])
    assert mammouth.seen[0].messages[0]["content"] == "."


async def test_upload_at_the_usage_limit_exhausts_and_fails_over(mammouth, start_gateway):
    mammouth.upload_failures["auth-a"] = 403
    gw = await start_gateway(mammouth_config(mammouth, "auth-a", "auth-b"))
    reply = await gw.client().chat.completions.create(**image_chat(PNG_URL))
    assert reply.choices[0].message.content == "Hello from Mammouth!"
    assert mammouth.sessions_seen() == ["auth-b"]
    assert (await gw.account("mammouth-1"))["state"] == "exhausted"


FAILURES = [
    pytest.param(Step("status", 401, "Unauthorized"), "invalid", id="401"),
    pytest.param(
        Step("status", 403, '{"statusCode":403,"message":"Usage limit reached"}'), "exhausted", id="403-limit"
    ),
    pytest.param(
        Step("status", 403, '{"statusCode":403,"message":"Invalid session"}'), "invalid", id="403-session"
    ),
    pytest.param(Step("status", 429, "slow down", headers={"Retry-After": "45"}), "cooling", id="429"),
    pytest.param(Step("status", 503, "unavailable"), "cooling", id="5xx"),
    pytest.param(Step("hang"), "cooling", id="hang"),
    pytest.param(Step("empty"), "cooling", id="empty"),
    pytest.param(
        Step("json", body='{"statusCode":403,"message":"Usage limit reached"}'), "exhausted", id="json"
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("step", "state"), FAILURES)
async def test_failure_rests_the_account_and_the_next_one_answers(
    mammouth, start_gateway, step, state, stream
):
    mammouth.script("auth-a", step)
    config = mammouth_config(mammouth, "auth-a", "auth-b")
    if step.kind == "hang":
        config["pool"]["first_byte_timeout"] = HUNG_AFTER
    gw = await start_gateway(config)
    client = gw.client()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**chat("gpt-5", stream=True))]
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        answer = (await client.chat.completions.create(**chat("gpt-5"))).choices[0].message.content
    assert answer == "Hello from Mammouth!"
    assert mammouth.sessions_seen() == ["auth-a", "auth-b"]  # the form was rebuilt for the retry
    account = await gw.account("mammouth-1")
    assert account["state"] == state
    assert "auth-a" not in str(account)
    if step.status == 429:
        assert account["seconds_left"] == 45


# -- the provider alone: the events every door builds on ----------------------------------


def mammouth_account(fake: FakeMammouth, cookie: str = "auth-a") -> dict[str, Any]:
    return {"id": "mammouth-1", "provider": "mammouth", "cookie": cookie, "base_url": fake.url}


async def test_provider_streams_whole_characters_then_finish_and_estimated_usage(mammouth):
    text = "Ça marche: 你好世界 😀🎉"
    mammouth.default = Step(text=text, split=1)
    async with provider_of(mammouth_account(mammouth)) as provider:
        events = await events_of(provider, request(chat("gpt-5", stream=True)))
    pieces = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(pieces) == text and all("\ufffd" not in p for p in pieces)
    assert events[-2] == Finish("stop")
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.estimated and usage.completion_tokens > 0


async def test_provider_complete_answers_and_sends_a_cleaned_cookie(mammouth):
    async with provider_of(mammouth_account(mammouth, "\r\n auth-x\t")) as provider:
        reply = await provider.complete(request(chat("gpt-5")))
    assert reply.text == "Hello from Mammouth!"
    assert reply.usage is not None and reply.usage.estimated
    assert mammouth.seen[0].headers["Cookie"] == "auth_session=auth-x"
