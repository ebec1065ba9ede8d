"""What a real Open WebUI sent, replayed through the gateway to Monica accounts.

tests/fixtures/open_webui/ holds the request bodies Open WebUI 0.12.4 sent, in order, while
headless Chromium typed into its chat box (tools/openwebui/, `make openwebui`): its default
chat offers its 36 built-in tools (native function calling is its default), streams without
asking for usage, and makes background calls of its own (title, tags, follow-ups).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from tests.conftest import base_config
from tests.fakes.monica import FakeMonica, Step

FIXTURES = Path(__file__).parent / "fixtures" / "open_webui"
WRITTEN_CALL = '<tool_call>{"name": "get_current_timestamp", "arguments": {}}</tool_call>'  # by the model
REPLAYED_CALL = '<tool_call>{"name":"get_current_timestamp","arguments":{}}</tool_call>'  # in the history


def captured(name: str) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
    """The tools Open WebUI offered, and each request as (kind, body): chat, title, tags, follow_ups."""
    fixture = json.loads((FIXTURES / name).read_text())
    tools = fixture["tools"]
    requests = []
    for request in fixture["requests"]:
        body = request["body"]
        if body.get("tools") == fixture["tools_ref"]:
            body = {**body, "tools": tools}
        requests.append((request["kind"], body))
    return tools, requests


def monica_pool(fake: FakeMonica, accounts: int, **pool: Any) -> dict[str, Any]:
    config = base_config(accounts=0, pool=pool)
    config["accounts"] = [
        {
            "id": f"monica-{n}",
            "provider": "monica",
            "cookie": f"sess-{n}",
            "base_url": fake.url,
            "models": ["gpt-4o"],
        }
        for n in range(1, accounts + 1)
    ]
    return config


async def send(client: openai.AsyncOpenAI, body: dict[str, Any]) -> ChatCompletion:
    """A captured body, sent as Open WebUI sent it (streamed or not); the finished answer."""
    if not body.get("stream"):
        return await client.chat.completions.create(**body)
    rest = {k: v for k, v in body.items() if k != "stream"}
    async with client.chat.completions.stream(**rest) as stream:
        return await stream.get_final_completion()


async def test_open_webui_default_chat_runs_its_clock_tool_on_monica(monica, start_gateway):
    tools, requests = captured("tool_call.json")
    first, with_result = [body for kind, body in requests if kind == "chat"]
    monica.script(
        "sess-1",
        Step(text="Let me check the clock.\n" + WRITTEN_CALL),
        Step(text="It is 14:34 UTC."),
    )
    gw = await start_gateway(monica_pool(monica, 1))
    client = gw.client()

    called = (await send(client, first)).choices[0]
    assert called.finish_reason == "tool_calls"
    assert called.message.content == "Let me check the clock."
    [tool_call] = called.message.tool_calls or []
    assert (tool_call.function.name, json.loads(tool_call.function.arguments)) == (
        "get_current_timestamp",
        {},
    )
    preamble = monica.seen[0].questions[0]
    assert all(f'{{"name":"{t["function"]["name"]}"' in preamble for t in tools) and len(tools) == 36

    answer = (await send(client, with_result)).choices[0]
    assert answer.message.content == "It is 14:34 UTC." and answer.finish_reason == "stop"
    [result] = [m["content"] for m in with_result["messages"] if m["role"] == "tool"]
    follow_up = monica.seen[1]
    replies = [i["data"]["content"] for i in follow_up.items if i["item_type"] == "reply"]
    assert replies[-1] == "Let me check the clock.\n" + REPLAYED_CALL
    expected = (
        '<tool_response>{"name":"get_current_timestamp","content":' + json.dumps(result) + "}</tool_response>"
    )
    assert follow_up.questions[-1] == expected
    assert monica.problems == []


async def test_open_webui_ten_turn_chat_stays_on_one_account_while_its_background_calls_spread(
    monica, start_gateway
):
    _, requests = captured("sticky.json")
    gw = await start_gateway(
        monica_pool(monica, 3, strategy="round_robin", sticky={"enabled": True, "ttl": "1h"})
    )
    client = gw.client()
    sessions: list[tuple[str, str]] = []
    for kind, body in requests:
        await send(client, body)
        sessions.append((kind, monica.seen[-1].session))
    chat = {session for kind, session in sessions if kind == "chat"}
    background = {session for kind, session in sessions if kind != "chat"}
    assert sum(kind == "chat" for kind, _ in sessions) == 11  # ten turns, one of them a tool round
    assert len(chat) == 1
    assert len(background) > 1  # the round robin kept turning around the conversation
    assert monica.problems == []
