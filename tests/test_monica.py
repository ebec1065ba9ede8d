"""Monica accounts through the real gateway and the official SDK, against a checking fake."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from proxy.core.events import Finish, ReasoningDelta, TextDelta, Usage
from proxy.outcome import OutcomeKind, UpstreamError
from proxy.providers.monica import draw, uploads
from proxy.providers.monica.body import PREAMBLE_CLOSE, PREAMBLE_OPEN
from tests.conftest import HUNG_AFTER, base_config, chat
from tests.fakes.monica import FakeMonica, Step
from tests.provider_kit import events_of, provider_of, request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00fake-png-body" * 20
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "POLL_INTERVAL", 0.01)
    monkeypatch.setattr(draw, "POLL_INTERVAL", 0.01)


def monica_config(fake: FakeMonica, *sessions: str, **account: Any) -> dict[str, Any]:
    config = base_config(accounts=0, pool={"failure_threshold": 1})
    config["accounts"] = [
        {"id": f"monica-{i}", "provider": "monica", "cookie": s, "base_url": fake.url, **account}
        for i, s in enumerate(sessions or ("sess-a",), start=1)
    ]
    return config


@pytest.fixture(autouse=True)
def wire_format_was_right(monica: FakeMonica):  # type: ignore[no-untyped-def]
    yield
    assert monica.problems == []


async def test_nonstream_answer_uses_the_model_table_and_estimates_usage(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    reply = await gw.client().chat.completions.create(**chat("gpt-4o", "Hello there"))
    assert reply.choices[0].message.content == "Hello from Monica!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    seen = monica.seen[0]
    assert seen.path == "/api/custom_bot/chat"
    assert seen.body["bot_uid"] == "gpt_4_o_chat"
    assert seen.body["data"]["use_model"] == "gpt-4o"
    assert seen.headers["cookie"] == "session_id=sess-a"
    assert seen.questions == ["Hello there"]


async def test_stream_works_with_the_sdk_stream_helper(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    client = gw.client()
    async with client.chat.completions.stream(**chat("claude-4-sonnet")) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from Monica!"
    assert final.choices[0].message.role == "assistant"
    chunks = [c async for c in await client.chat.completions.create(**chat("gpt-4o", stream=True))]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1


async def test_stream_reports_estimated_usage_when_asked(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    stream = await gw.client().chat.completions.create(
        **chat("gpt-4o", stream=True, stream_options={"include_usage": True})
    )
    chunks = [c async for c in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


async def test_history_is_a_linked_item_chain_and_array_text_is_joined(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "An answer"},
        {"role": "user", "content": "Follow-up"},
    ]
    await gw.client().chat.completions.create(model="gpt-4o", messages=messages)
    items = monica.seen[0].items
    assert [i["item_type"] for i in items] == ["reply", "question", "reply", "question"]
    assert [i["data"]["content"] for i in items[1:]] == ["part one\ntwo", "An answer", "Follow-up"]


@pytest.mark.parametrize("stream", [False, True])
async def test_multibyte_text_split_across_reads_arrives_whole(monica, start_gateway, stream):
    text = "héllo wörld 你好 😀 ok"
    monica.default = Step(text=text, split=3)
    gw = await start_gateway(monica_config(monica))
    client = gw.client()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**chat("gpt-4o", stream=True))]
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        answer = (await client.chat.completions.create(**chat("gpt-4o"))).choices[0].message.content
    assert answer == text


def with_system(model: str = "gpt-4o") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "Greet me"},
        ],
    }


async def test_system_prompt_is_folded_into_the_first_turn_without_a_custom_bot(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    await gw.client().chat.completions.create(**with_system())
    seen = monica.seen[0]
    assert seen.path == "/api/custom_bot/chat"
    assert seen.questions == [f"{PREAMBLE_OPEN}\nYou are a pirate.\n{PREAMBLE_CLOSE}\n\nGreet me"]


@pytest.mark.parametrize(
    ("model", "use_model"),
    [("gpt-4o", "gpt-4o"), ("grok-4", "grok-4-0709"), ("gemini-2.5-pro", "gemini-2.5-pro-thinking")],
)
async def test_system_prompt_uses_custom_bot_mode_when_configured(monica, start_gateway, model, use_model):
    gw = await start_gateway(monica_config(monica, custom_bot_uid="bot-123"))
    reply = await gw.client().chat.completions.create(**with_system(model))
    assert reply.choices[0].message.content == "Hello from Monica!"
    seen = monica.seen[0]
    assert seen.path == "/api/custom_bot/preview_chat"
    assert seen.body["bot_uid"] == "bot-123"
    assert seen.body["bot_data"]["prompt"] == "You are a pirate."
    assert seen.body["data"]["use_model"] == use_model
    assert seen.questions == ["Greet me"]


async def test_custom_bot_account_without_a_system_message_uses_normal_chat(monica, start_gateway):
    gw = await start_gateway(monica_config(monica, custom_bot_uid="bot-123"))
    await gw.client().chat.completions.create(**chat("gpt-4o"))
    assert monica.seen[0].path == "/api/custom_bot/chat"


async def test_reasoning_arrives_as_reasoning_content(monica, start_gateway):
    monica.default = Step(text="The answer.", reasoning="Let me think it over")
    gw = await start_gateway(monica_config(monica))
    client = gw.client()
    reply = await client.chat.completions.create(**chat("deepseek-reasoner"))
    assert reply.choices[0].message.content == "The answer."
    assert reply.choices[0].message.reasoning_content == "Let me think it over"  # type: ignore[attr-defined]
    chunks = [c async for c in await client.chat.completions.create(**chat("deepseek-reasoner", stream=True))]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == "Let me think it over"
    assert "".join(d.content or "" for d in deltas) == "The answer."


async def test_reasoning_inline_as_think_tags_when_configured(monica, start_gateway):
    monica.default = Step(text="The answer.", reasoning="Hmm")
    gw = await start_gateway(monica_config(monica, reasoning="think_tags"))
    client = gw.client()
    reply = await client.chat.completions.create(**chat("deepseek-reasoner"))
    assert reply.choices[0].message.content == "<think>Hmm</think>The answer."
    chunks = [c async for c in await client.chat.completions.create(**chat("deepseek-reasoner", stream=True))]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "<think>Hmm</think>The answer."
    )


@pytest.mark.parametrize(
    ("cookie", "header"),
    [
        ("\r\n  sess-x\t\n", "session_id=sess-x"),
        ("theme=dark ;\r\n session_id=sess-y ; ", "theme=dark; session_id=sess-y"),
    ],
)
async def test_cookie_is_cleaned_and_a_bare_value_is_the_session(monica, start_gateway, cookie, header):
    gw = await start_gateway(monica_config(monica, cookie))
    await gw.client().chat.completions.create(**chat("gpt-4o"))
    assert monica.seen[0].headers["cookie"] == header


# The names Monica users rely on (upstreams.md §1.6), written out: not read from the code.
MONICA_MODELS = {
    "gpt-5", "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4-5",
    "o3", "o3-mini", "o4-mini", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-4-sonnet",
    "claude-4-sonnet-thinking", "claude-4-opus", "claude-4-opus-thinking",
    "claude-opus-4-1-20250805-thinking", "claude-3-7-sonnet-thinking", "claude-3-7-sonnet",
    "claude-3-5-haiku", "gemini-3-pro-preview-thinking", "gemini-2.5-pro", "gemini-2.5-flash",
    "gemini-2.0-flash", "deepseek-v3.1", "deepseek-reasoner", "deepseek-chat", "deepclaude",
    "sonar", "sonar-reasoning-pro", "grok-3-beta", "grok-4", "grok-code-fast-1",
}  # fmt: skip


async def test_models_lists_the_monica_table(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    ids = {m.id async for m in gw.client().models.list()}
    assert ids == MONICA_MODELS


@pytest.mark.parametrize(
    ("model", "bot_uid"), [("claude-3-5-haiku", "claude_3.5_haiku"), ("gpt-4-5", "gpt_4_5_chat")]
)
async def test_table_names_map_to_their_bot_uid(monica, start_gateway, model, bot_uid):
    gw = await start_gateway(monica_config(monica))
    await gw.client().chat.completions.create(**chat(model))
    assert monica.seen[0].body["bot_uid"] == bot_uid


async def test_unknown_model_passes_through_as_bot_uid_when_admitted(monica, start_gateway):
    gw = await start_gateway(monica_config(monica, models=["*"]))
    await gw.client().chat.completions.create(**chat("llama_3_3_70b"))
    assert monica.seen[0].body["bot_uid"] == "llama_3_3_70b"


async def test_unknown_model_is_not_served_by_the_default_table(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    with pytest.raises(openai.NotFoundError):
        await gw.client().chat.completions.create(**chat("llama_3_3_70b"))


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


async def test_tools_are_dropped_and_tool_history_becomes_text(monica, start_gateway):
    config = monica_config(monica)
    config["pool"]["unsupported_tools"] = "drop"  # emulation (the default) is tests/test_tools_*.py
    gw = await start_gateway(config)
    messages = [
        {"role": "user", "content": "Look it up"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages, tools=TOOLS
    )
    assert raw.headers["x-pool-proxy-dropped"] == "tools"
    assert raw.parse().choices[0].message.content == "Hello from Monica!"
    contents = [i["data"]["content"] for i in monica.seen[0].items[1:]]
    assert "lookup" in contents[1] and "42" in contents[2]


async def test_required_tool_choice_is_refused_with_a_clear_400_under_drop(monica, start_gateway):
    config = monica_config(monica)
    config["pool"]["unsupported_tools"] = "drop"  # emulation (the default) is tests/test_tools_*.py
    gw = await start_gateway(config)
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(**chat("gpt-4o"), tools=TOOLS, tool_choice="required")
    assert "tool" in caught.value.message
    assert monica.seen == []


def image_chat(url: str, text: str = "What is this?") -> dict[str, Any]:
    content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}


async def test_data_url_image_is_uploaded_once_and_sent_as_file_info(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    client = gw.client()
    await client.chat.completions.create(**image_chat(PNG_URL))
    await client.chat.completions.create(**image_chat(PNG_URL, "And now?"))
    assert monica.presigns == 1  # the second request used the content-hash cache
    assert list(monica.uploaded.values()) == [PNG]
    question = monica.seen[1].items[1]["data"]
    assert question["type"] == "file_with_text" and question["content"] == "And now?"
    (info,) = question["file_infos"]
    assert info["file_type"] == "image/png" and info["file_chunks"] == 1
    assert info["file_url"].startswith(monica.url + "/cdn/")


async def test_bad_data_url_is_a_400_naming_messages(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(**image_chat("data:image/png;base64,bm90IGFuIGltYWdl"))
    assert caught.value.body["param"] == "messages"  # type: ignore[index]
    assert monica.seen == []
    assert (await gw.account("monica-1"))["state"] == "active"


async def test_rejected_upload_fails_over_to_the_next_account(monica, start_gateway):
    monica.api_failures["sess-a"] = 401
    gw = await start_gateway(monica_config(monica, "sess-a", "sess-b"))
    reply = await gw.client().chat.completions.create(**image_chat(PNG_URL))
    assert reply.choices[0].message.content == "Hello from Monica!"
    assert monica.sessions_seen() == ["sess-b"]
    assert (await gw.account("monica-1"))["state"] == "invalid"


async def test_images_generation_draws_and_polls(monica, start_gateway):
    gw = await start_gateway(monica_config(monica))
    result = await gw.client().images.generate(prompt="a red fox", n=2, size="1792x1024")
    assert [d.url for d in result.data] == [f"{monica.url}/cdn/drawn-0.png", f"{monica.url}/cdn/drawn-1.png"]
    assert result.data[0].revised_prompt == "a red fox"
    (drawing,) = monica.drawings
    assert drawing["aspect_ratio"] == "16:9" and drawing["image_count"] == 2
    assert drawing["prompt"] == "a red fox"


@pytest.mark.parametrize(
    ("body", "param"),
    [({"n": 1}, "prompt"), ({"prompt": "x", "n": 5}, "n"), ({"prompt": "x", "size": "9x9"}, "size")],
)
async def test_images_generation_validates_its_body(monica, start_gateway, body, param):
    gw = await start_gateway(monica_config(monica))
    resp = await gw.post("/v1/images/generations", body)
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == param


async def test_images_generation_fails_over_when_an_account_is_logged_out(monica, start_gateway):
    monica.api_failures["sess-a"] = 403
    gw = await start_gateway(monica_config(monica, "sess-a", "sess-b"))
    result = await gw.client().images.generate(prompt="a cat")
    assert len(result.data) == 1
    assert (await gw.account("monica-1"))["state"] == "invalid"


FAILURES = [
    pytest.param(Step("status", 401, "unauthorized"), "invalid", id="401"),
    pytest.param(Step("status", 403, '{"code":403,"msg":"forbidden"}'), "invalid", id="403"),
    pytest.param(Step("login"), "invalid", id="login-redirect"),
    pytest.param(Step("status", 429, "slow", headers={"Retry-After": "30"}), "cooling", id="429"),
    pytest.param(
        Step("json", body='{"code":4004,"msg":"You have run out of credits"}'), "exhausted", id="credits"
    ),
    pytest.param(Step("status", 402, "Monthly usage limit reached"), "exhausted", id="usage-limit"),
    pytest.param(Step("status", 502, "bad gateway"), "cooling", id="5xx"),
    pytest.param(Step("hang"), "cooling", id="hang"),
    pytest.param(Step("empty"), "cooling", id="empty-stream"),
    pytest.param(Step("json", body='{"code":500,"msg":"internal error"}'), "cooling", id="json-not-sse"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("step", "state"), FAILURES)
async def test_failure_rests_the_account_and_the_next_one_answers(monica, start_gateway, step, state, stream):
    monica.script("sess-a", step)
    config = monica_config(monica, "sess-a", "sess-b")
    if step.kind == "hang":
        config["pool"]["first_byte_timeout"] = HUNG_AFTER
    gw = await start_gateway(config)
    client = gw.client()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**chat("gpt-4o", stream=True))]
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        answer = (await client.chat.completions.create(**chat("gpt-4o"))).choices[0].message.content
    assert answer == "Hello from Monica!"
    assert monica.sessions_seen() == ["sess-a", "sess-b"]
    account = await gw.account("monica-1")
    assert account["state"] == state
    assert "sess-a" not in str(account)  # the cookie never shows, only its mask
    if step.status == 429:
        assert account["seconds_left"] == 30


async def test_a_stream_that_stalls_after_content_ends_with_an_error_event(monica, start_gateway):
    monica.script("sess-a", Step("stall"))
    config = monica_config(monica, "sess-a", "sess-b")
    config["pool"]["stream_idle_timeout"] = HUNG_AFTER
    gw = await start_gateway(config)
    stream = await gw.client().chat.completions.create(**chat("gpt-4o", stream=True))
    received = []
    with pytest.raises(openai.APIError, match="mid-stream"):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == ["Hello"]
    assert monica.sessions_seen() == ["sess-a"]  # too late to fail over: the client had content


# -- the provider alone: the events every door builds on ----------------------------------


def monica_account(fake: FakeMonica, **extra: Any) -> dict[str, Any]:
    return {"id": "monica-1", "provider": "monica", "cookie": "sess-a", "base_url": fake.url, **extra}


async def test_provider_streams_reasoning_then_text_then_finish_and_estimated_usage(monica):
    monica.default = Step(text="The answer.", reasoning="Let me think it over")
    async with provider_of(monica_account(monica)) as provider:
        events = await events_of(provider, request(chat("deepseek-reasoner", stream=True)))
    kinds = [type(e) for e in events]
    last_reasoning = max(i for i, k in enumerate(kinds) if k is ReasoningDelta)
    assert kinds.index(TextDelta) > last_reasoning
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Let me think it over"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The answer."
    assert events[-2] == Finish("stop")
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.estimated and usage.completion_tokens > 0


async def test_provider_think_tags_inline_reasoning_as_text(monica):
    monica.default = Step(text="The answer.", reasoning="Hmm")
    async with provider_of(monica_account(monica, reasoning="think_tags")) as provider:
        events = await events_of(provider, request(chat("deepseek-reasoner", stream=True)))
        reply = await provider.complete(request(chat("deepseek-reasoner")))
    assert not any(isinstance(e, ReasoningDelta) for e in events)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == reply.text == "<think>Hmm</think>The answer."
    assert reply.reasoning == ""


async def test_provider_complete_keeps_reasoning_apart(monica):
    monica.default = Step(text="The answer.", reasoning="Let me think")
    async with provider_of(monica_account(monica)) as provider:
        reply = await provider.complete(request(chat("deepseek-reasoner")))
    assert (reply.text, reply.reasoning, reply.finish) == ("The answer.", "Let me think", "stop")
    assert reply.usage is not None and reply.usage.estimated and reply.raw is None


async def test_provider_stream_that_stalls_after_content_raises_a_timeout(monica):
    monica.script("sess-a", Step("stall"))
    async with provider_of(monica_account(monica), stream_idle_timeout=HUNG_AFTER) as provider:
        stream = provider.stream(request(chat("gpt-4o", stream=True)))
        assert await anext(stream) == TextDelta("Hello")
        with pytest.raises(UpstreamError) as caught:
            await anext(stream)
        await stream.aclose()
    assert caught.value.outcome.kind is OutcomeKind.TRANSIENT and caught.value.outcome.timeout
