"""Tool calling emulated on Monica and Mammouth accounts, through the real openai SDK.

The fakes answer in the block syntax of issue 11; the tests read what the client got
and what the upstream was sent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import openai
import pytest

from tests.conftest import base_config, chat
from tests.fakes.mammouth import FakeMammouth
from tests.fakes.mammouth import Step as MammouthStep
from tests.fakes.monica import FakeMonica
from tests.fakes.monica import Step as MonicaStep

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "description": "The time in a city."}}
TOOLS = [WEATHER, TIME]


def call(name: str, **arguments: Any) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def pool(provider: str, fake: FakeMonica | FakeMammouth, **account: Any) -> dict[str, Any]:
    config = base_config(accounts=0, pool={"first_byte_timeout": "2s"})
    config["accounts"] = [
        {"id": f"{provider}-1", "provider": provider, "cookie": "sess-a", "base_url": fake.url, **account}
    ]
    return config


@pytest.fixture(autouse=True)
def wire_format_was_right(monica: FakeMonica, mammouth: FakeMammouth):  # type: ignore[no-untyped-def]
    yield
    assert monica.problems == [] and mammouth.problems == []


async def streamed(
    client: openai.AsyncOpenAI, **body: Any
) -> tuple[str, list[dict[str, Any]], str, list[Any]]:
    """Content, tool calls (assembled as the SDK's users do), finish reason and the raw chunks."""
    stream = await client.chat.completions.create(stream=True, **body)
    chunks = [c async for c in stream]
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = ""
    for chunk in chunks:
        for choice in chunk.choices:
            delta = choice.delta
            content.append(delta.content or "")
            for piece in delta.tool_calls or ():
                entry = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += piece.id or ""
                entry["name"] += (piece.function and piece.function.name) or ""
                entry["arguments"] += (piece.function and piece.function.arguments) or ""
            finish = choice.finish_reason or finish
    return "".join(content), [calls[i] for i in sorted(calls)], finish, chunks


# -- Monica -----------------------------------------------------------------------------------


async def test_monica_single_call_non_stream_is_a_real_tool_call(monica, start_gateway):
    monica.script("sess-a", MonicaStep(text=call("get_weather", city="Paris")))
    gw = await start_gateway(pool("monica", monica))
    raw = await gw.client().chat.completions.with_raw_response.create(
        **chat("gpt-4o", "Weather in Paris?"), tools=TOOLS
    )
    assert raw.headers["x-pool-proxy-tools"] == "emulated"
    assert "x-pool-proxy-dropped" not in raw.headers
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content in (None, "")
    [tool_call] = choice.message.tool_calls or []
    assert tool_call.id.startswith("call_") and tool_call.type == "function"
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}


async def test_monica_text_then_call_streams_the_text_and_then_the_call(monica, start_gateway):
    monica.script("sess-a", MonicaStep(text="Let me check that. " + call("get_weather", city="Oslo")))
    gw = await start_gateway(pool("monica", monica))
    content, calls, finish, chunks = await streamed(gw.client(), **chat("gpt-4o", "Oslo?"), tools=TOOLS)
    assert content == "Let me check that."
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Oslo"})]
    assert calls[0]["id"].startswith("call_")
    assert finish == "tool_calls"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1


async def test_monica_two_blocks_are_two_parallel_calls(monica, start_gateway):
    text = call("get_weather", city="Paris") + "\n" + call("get_time", city="Paris")
    monica.script("sess-a", MonicaStep(text=text), MonicaStep(text=text))
    gw = await start_gateway(pool("monica", monica))
    reply = await gw.client().chat.completions.create(**chat("gpt-4o", "Paris?"), tools=TOOLS)
    names = [c.function.name for c in reply.choices[0].message.tool_calls or []]
    assert names == ["get_weather", "get_time"]
    _, calls, finish, _ = await streamed(gw.client(), **chat("gpt-4o", "Paris?"), tools=TOOLS)
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2 and finish == "tool_calls"


async def test_monica_block_split_across_many_events_even_inside_the_tag(monica, start_gateway):
    text = "Sure. " + call("get_weather", city="Zürich")
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]  # "<to", "ol_", "cal", …
    monica.script("sess-a", MonicaStep(text=text, chunks=pieces))
    gw = await start_gateway(pool("monica", monica))
    content, calls, finish, chunks = await streamed(gw.client(), **chat("gpt-4o", "Zürich?"), tools=TOOLS)
    seen = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert not any("<" in piece for piece in seen)  # never a half block as text
    assert content == "Sure."
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Zürich"})]
    assert finish == "tool_calls"


async def test_monica_fenced_json_in_the_block_is_a_call(monica, start_gateway):
    inner = '{"name": "get_time", "arguments": "{\\"city\\": \\"Rome\\"}"}'
    fenced = f"<tool_call>\n```json\n{inner}\n```\n</tool_call>"
    monica.script("sess-a", MonicaStep(text=fenced))
    gw = await start_gateway(pool("monica", monica))
    reply = await gw.client().chat.completions.create(**chat("gpt-4o", "Rome?"), tools=TOOLS)
    [tool_call] = reply.choices[0].message.tool_calls or []
    assert (tool_call.function.name, json.loads(tool_call.function.arguments)) == (
        "get_time",
        {"city": "Rome"},
    )


@pytest.mark.parametrize(
    "answer",
    [
        '<tool_call>{"name": "get_weather", "arguments": {"city": </tool_call>',  # malformed
        call("launch_rockets", target="moon"),  # a tool that was not offered
    ],
)
async def test_monica_block_that_is_not_a_valid_call_comes_back_as_text(
    monica, start_gateway, answer, caplog
):
    monica.script("sess-a", MonicaStep(text=answer), MonicaStep(text=answer))
    gw = await start_gateway(pool("monica", monica))
    with caplog.at_level(logging.INFO, logger="pool_proxy.tools"):
        reply = await gw.client().chat.completions.create(
            **chat("gpt-4o", "Go"), tools=TOOLS, extra_headers={"X-Request-ID": "req-tools-1"}
        )
    kept = [r for r in caplog.records if r.name == "pool_proxy.tools"]
    assert [(r.levelno, r.__dict__.get("request_id")) for r in kept] == [(logging.INFO, "req-tools-1")]
    assert reply.choices[0].message.content == answer
    assert not reply.choices[0].message.tool_calls and reply.choices[0].finish_reason == "stop"
    content, calls, finish, _ = await streamed(gw.client(), **chat("gpt-4o", "Go"), tools=TOOLS)
    assert (content, calls, finish) == (answer, [], "stop")
    account = await gw.account("monica-1")
    assert account["state"] == "active"


async def test_monica_reasoning_stays_apart_from_the_call(monica, start_gateway):
    step = MonicaStep(text=call("get_weather", city="Lima"), reasoning="The user asks about Lima weather.")
    monica.script("sess-a", step)
    gw = await start_gateway(pool("monica", monica))
    _, calls, finish, chunks = await streamed(
        gw.client(), **chat("claude-4-sonnet-thinking", "Lima?"), tools=TOOLS
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert reasoning == "The user asks about Lima weather."
    assert [c["name"] for c in calls] == ["get_weather"] and finish == "tool_calls"


async def test_monica_gets_the_tools_in_its_system_text_and_the_history_in_block_syntax(
    monica, start_gateway
):
    monica.script(
        "sess-a",
        MonicaStep(text=call("get_weather", city="Paris")),
        MonicaStep(text="It is 18°C and sunny in Paris."),
    )
    gw = await start_gateway(pool("monica", monica))
    client = gw.client()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    [tool_call] = first.choices[0].message.tool_calls or []
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": "18°C, sunny"})
    final = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    assert final.choices[0].message.content == "It is 18°C and sunny in Paris."
    assert final.choices[0].finish_reason == "stop"

    sent = monica.seen[1]
    questions = sent.questions
    replies = [i["data"]["content"] for i in sent.items[1:] if i["item_type"] == "reply"]
    assert "<tool_call>" in questions[0] and '"name":"get_weather"' in questions[0]  # folded system text
    assert questions[0].rstrip().endswith("Weather in Paris?")
    assert replies == ['<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>']
    assert questions[1] == '<tool_response>{"name":"get_weather","content":"18°C, sunny"}</tool_response>'


async def test_monica_custom_bot_prompt_carries_the_tools(monica, start_gateway):
    gw = await start_gateway(pool("monica", monica, custom_bot_uid="bot-123"))
    await gw.client().chat.completions.create(**chat("gpt-4o", "Hi"), tools=TOOLS)
    sent = monica.seen[0]
    assert sent.path == "/api/custom_bot/preview_chat"
    assert '"name":"get_weather"' in sent.body["bot_data"]["prompt"]
    assert sent.questions == ["Hi"]


async def test_tool_choice_none_sends_no_tool_text_and_required_says_so(monica, start_gateway):
    gw = await start_gateway(pool("monica", monica))
    client = gw.client()
    await client.chat.completions.create(**chat("gpt-4o", "Hi"), tools=TOOLS, tool_choice="none")
    await client.chat.completions.create(**chat("gpt-4o", "Hi"), tools=TOOLS, tool_choice="required")
    named = {"type": "function", "function": {"name": "get_time"}}
    await client.chat.completions.create(**chat("gpt-4o", "Hi"), tools=TOOLS, tool_choice=named)
    none, required, forced = (json.dumps(s.body) for s in monica.seen)
    assert "get_weather" not in none and "tool_call" not in none
    assert "You must call at least one of these tools" in required
    assert "You must call the tool `get_time`" in forced


async def test_malformed_tools_are_a_400_naming_the_entry_and_never_reach_the_upstream(monica, start_gateway):
    gw = await start_gateway(pool("monica", monica))
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(**chat("gpt-4o"), tools=[WEATHER, 5])  # type: ignore[list-item]
    assert info.value.param == "tools[1]"
    assert monica.seen == []
    assert (await gw.account("monica-1"))["state"] == "active"


async def test_drop_policy_still_drops(monica, start_gateway):
    config = pool("monica", monica)
    config["pool"]["unsupported_tools"] = "drop"
    monica.script("sess-a", MonicaStep(text=call("get_weather", city="Paris")))
    gw = await start_gateway(config)
    raw = await gw.client().chat.completions.with_raw_response.create(**chat("gpt-4o"), tools=TOOLS)
    assert raw.headers["x-pool-proxy-dropped"] == "tools"
    assert "x-pool-proxy-tools" not in raw.headers
    assert raw.parse().choices[0].message.tool_calls is None
    assert "get_weather" not in json.dumps(monica.seen[0].body["data"]["items"][1:])


# -- Mammouth ---------------------------------------------------------------------------------


async def test_mammouth_agent_loop_call_result_final_answer(mammouth, start_gateway):
    mammouth.script(
        "sess-a",
        MammouthStep(text="I will look it up.\n" + call("get_weather", city="Berlin"), split=2),
        MammouthStep(text="Berlin: 9°C and rain."),
    )
    gw = await start_gateway(pool("mammouth", mammouth))
    client = gw.client()
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Berlin?"},
    ]
    content, calls, finish, _ = await streamed(client, model="gpt-5", messages=messages, tools=TOOLS)
    assert (content, finish) == ("I will look it up.", "tool_calls")
    messages.append(
        {
            "role": "assistant",
            "content": content,
            "tool_calls": [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "9°C, rain"})
    final = await client.chat.completions.create(model="gpt-5", messages=messages, tools=TOOLS)
    assert final.choices[0].message.content == "Berlin: 9°C and rain."

    first, second = mammouth.seen
    assert first.preprompt.startswith("You are terse.\n\n")
    assert '"name":"get_weather"' in first.preprompt and "<tool_call>" in first.preprompt
    assert [m["content"] for m in second.messages] == [
        "Weather in Berlin?",
        'I will look it up.\n<tool_call>{"name":"get_weather","arguments":{"city":"Berlin"}}</tool_call>',
        '<tool_response>{"name":"get_weather","content":"9°C, rain"}</tool_response>',
    ]


async def test_mammouth_non_stream_parallel_calls_and_required_tool_choice(mammouth, start_gateway):
    text = call("get_weather", city="Nice") + "\n\n" + call("get_time", city="Nice")
    mammouth.script("sess-a", MammouthStep(text=text, split=1))
    gw = await start_gateway(pool("mammouth", mammouth))
    raw = await gw.client().chat.completions.with_raw_response.create(
        **chat("gpt-5", "Nice?"), tools=TOOLS, tool_choice="required"
    )
    assert raw.headers["x-pool-proxy-tools"] == "emulated"
    reply = raw.parse()
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == ["get_weather", "get_time"]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert "You must call at least one of these tools" in mammouth.seen[0].preprompt


async def test_usage_is_estimated_and_counts_the_injected_prompt(mammouth, start_gateway):
    gw = await start_gateway(pool("mammouth", mammouth))
    client = gw.client()
    plain = await client.chat.completions.create(**chat("gpt-5", "Hi"))
    tooled = await client.chat.completions.create(**chat("gpt-5", "Hi"), tools=TOOLS)
    assert plain.usage is not None and tooled.usage is not None
    injected = len(mammouth.seen[1].preprompt)
    assert tooled.usage.prompt_tokens - plain.usage.prompt_tokens >= injected // 4 - 2


# -- the clients of issue 11 ------------------------------------------------------------------

OPEN_WEBUI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Open WebUI built-in tool {name}.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
    for name in ["search_web", "fetch_url", "get_current_timestamp", "query_knowledge_files"]
    + [f"builtin_{i}" for i in range(32)]
]


def sse_payloads(raw: bytes) -> list[Any]:
    events = [e[len(b"data: ") :] for e in raw.split(b"\n\n") if e.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    return [json.loads(e) for e in events[:-1]]


async def test_open_webui_chat_on_monica_runs_the_tool_and_gets_the_follow_up(monica, start_gateway):
    """Open WebUI's default chat: a stream with its 36 tools and usage; it runs the called tool
    and sends the result back in the same stream shape."""
    monica.script(
        "sess-a",
        MonicaStep(text="Searching. " + call("search_web", query="pool-proxy release")),
        MonicaStep(text="pool-proxy 1.0 was released today."),
    )
    gw = await start_gateway(pool("monica", monica))
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Any pool-proxy news?"}],
        "tools": OPEN_WEBUI_TOOLS,
    }
    async with await gw.post("/v1/chat/completions", body) as resp:
        assert resp.status == 200 and resp.headers["x-pool-proxy-tools"] == "emulated"
        chunks = sse_payloads(await resp.read())
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    [piece] = [t for d in deltas for t in d.get("tool_calls") or ()]
    assert piece["type"] == "function" and piece["function"]["name"] == "search_web"
    assert json.loads(piece["function"]["arguments"]) == {"query": "pool-proxy release"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] > 0

    made = {"id": piece["id"], "type": "function", "function": piece["function"]}
    body["messages"] += [
        {"role": "assistant", "content": "Searching.", "tool_calls": [made]},
        {"role": "tool", "tool_call_id": piece["id"], "content": '[{"title": "pool-proxy 1.0"}]'},
    ]
    async with await gw.post("/v1/chat/completions", body) as resp:
        chunks = sse_payloads(await resp.read())
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "pool-proxy 1.0 was released today."
    follow_up = monica.seen[1]
    assert follow_up.questions[-1] == (
        '<tool_response>{"name":"search_web","content":"[{\\"title\\": \\"pool-proxy 1.0\\"}]"}'
        "</tool_response>"
    )


async def test_sdk_agent_loop_over_mammouth_with_the_stream_helper(mammouth, start_gateway):
    """An OpenAI-SDK agent: call → run the tool → final answer, the SDK assembling the stream."""
    mammouth.script(
        "sess-a",
        MammouthStep(text=call("get_time", city="Tokyo"), split=3),
        MammouthStep(text="It is 21:00 in Tokyo."),
    )
    gw = await start_gateway(pool("mammouth", mammouth))
    client = gw.client()
    messages: list[Any] = [{"role": "user", "content": "Time in Tokyo?"}]
    tools: Any = TOOLS
    while True:
        async with client.chat.completions.stream(model="gpt-5", messages=messages, tools=tools) as stream:
            completion = await stream.get_final_completion()
        message = completion.choices[0].message
        messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
        if not message.tool_calls:
            break
        for tool_call in message.tool_calls:
            assert tool_call.function.name == "get_time"
            city = json.loads(tool_call.function.arguments)["city"]
            messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": f"21:00 in {city}"})
    assert message.content == "It is 21:00 in Tokyo."
    assert len(mammouth.seen) == 2
    assert [m["content"] for m in mammouth.seen[1].messages] == [
        "Time in Tokyo?",
        '<tool_call>{"name":"get_time","arguments":{"city":"Tokyo"}}</tool_call>',
        '<tool_response>{"name":"get_time","content":"21:00 in Tokyo"}</tool_response>',
    ]
