"""Legacy function calling (`functions`, `function_call`) through the real openai SDK: the
door turns it into tools, so emulated accounts call them too, and answers in the legacy
shape the client asked in (issue 11)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.conftest import base_config, chat
from tests.fakes.mammouth import FakeMammouth
from tests.fakes.mammouth import Step as MammouthStep
from tests.fakes.monica import FakeMonica
from tests.fakes.monica import Step as MonicaStep
from tests.fakes.openai_upstream import calls_step
from tests.test_tools_upstreams import WEATHER, call, pool

FUNCTIONS = [WEATHER["function"], {"name": "get_time", "description": "The time in a city."}]


@pytest.fixture(autouse=True)
def wire_format_was_right(monica: FakeMonica, mammouth: FakeMammouth):  # type: ignore[no-untyped-def]
    yield
    assert monica.problems == [] and mammouth.problems == []


async def test_mammouth_answers_a_functions_request_with_a_function_call_then_the_result(
    mammouth, start_gateway
):
    mammouth.script(
        "sess-a",
        MammouthStep(text=call("get_weather", city="Berlin")),
        MammouthStep(text="Berlin: 9°C and rain."),
    )
    gw = await start_gateway(pool("mammouth", mammouth))
    client = gw.client()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Berlin?"}]
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-5", messages=messages, functions=FUNCTIONS
    )
    assert raw.headers["x-pool-proxy-tools"] == "emulated"
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.tool_calls is None
    assert choice.message.function_call is not None
    assert choice.message.function_call.name == "get_weather"
    assert json.loads(choice.message.function_call.arguments) == {"city": "Berlin"}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "function", "name": "get_weather", "content": "9°C, rain"})
    final = await client.chat.completions.create(model="gpt-5", messages=messages, functions=FUNCTIONS)
    assert final.choices[0].message.content == "Berlin: 9°C and rain."
    assert final.choices[0].finish_reason == "stop"

    first, second = mammouth.seen
    assert '"name":"get_weather"' in first.preprompt and '"name":"get_time"' in first.preprompt
    assert "Call at most one tool per answer." in first.preprompt  # the legacy form has one call
    assert [m["content"] for m in second.messages] == [
        "Weather in Berlin?",
        '<tool_call>{"name":"get_weather","arguments":{"city":"Berlin"}}</tool_call>',
        '<tool_response>{"name":"get_weather","content":"9°C, rain"}</tool_response>',
    ]


async def test_monica_streams_a_forced_function_call_in_the_legacy_shape(monica, start_gateway):
    monica.script("sess-a", MonicaStep(text="Checking. " + call("get_time", city="Oslo")))
    gw = await start_gateway(pool("monica", monica))
    stream = await gw.client().chat.completions.create(
        **chat("gpt-4o", "Time in Oslo?"),
        functions=FUNCTIONS,
        function_call={"name": "get_time"},
        stream=True,
    )
    content, name, arguments, finish = "", "", "", ""
    async for chunk in stream:
        for choice in chunk.choices:
            assert choice.delta.tool_calls is None
            content += choice.delta.content or ""
            if choice.delta.function_call is not None:
                name += choice.delta.function_call.name or ""
                arguments += choice.delta.function_call.arguments or ""
            finish = choice.finish_reason or finish
    assert (content, name, finish) == ("Checking.", "get_time", "function_call")
    assert json.loads(arguments) == {"city": "Oslo"}
    assert "You must call the tool `get_time`" in json.dumps(monica.seen[0].body)


async def test_function_call_none_sends_no_tool_text(monica, start_gateway):
    gw = await start_gateway(pool("monica", monica))
    hi = chat("gpt-4o", "Hi")
    await gw.client().chat.completions.create(**hi, functions=FUNCTIONS, function_call="none")
    sent = json.dumps(monica.seen[0].body)
    assert "get_weather" not in sent and "tool_call" not in sent


async def test_a_native_upstream_gets_tools_and_the_client_still_gets_a_function_call(
    upstream, start_gateway
):
    upstream.default = calls_step(("get_weather", '{"city": "Rome"}'))
    gw = await start_gateway(base_config(upstream, accounts=1))
    reply = await gw.client().chat.completions.create(**chat("gpt-4o", "Rome?"), functions=FUNCTIONS)
    choice = reply.choices[0]
    assert choice.finish_reason == "function_call" and choice.message.function_call is not None
    assert (choice.message.function_call.name, choice.message.function_call.arguments) == (
        "get_weather",
        '{"city": "Rome"}',
    )
    sent = upstream.seen[0].body
    assert "functions" not in sent and "function_call" not in sent
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"functions": [1]}, "functions[0]"),
        ({"functions": [{"name": "bad name!"}]}, "functions[0].name"),
        ({"functions": FUNCTIONS, "tools": [WEATHER]}, "functions"),
        ({"functions": FUNCTIONS, "function_call": {"name": "nope"}}, "function_call"),
        ({"function_call": "auto", "functions": "get_weather"}, "functions"),
    ],
)
async def test_malformed_legacy_functions_are_a_400_naming_the_field(monica, start_gateway, extra, param):
    gw = await start_gateway(pool("monica", monica))
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(**chat("gpt-4o", "Hi"), **extra)
    assert info.value.body["param"] == param  # type: ignore[index]
    assert monica.seen == []
