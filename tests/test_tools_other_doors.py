"""Emulated tools behind every door (issue 11 §1): Claude Code's `tool_use` on a Monica
account, a Codex-style Responses `function_call` on a Mammouth account, each through its
own real SDK, with the result going back upstream in the contract's syntax."""

from __future__ import annotations

import json
from typing import Any

import anthropic

from tests.conftest import ALICE
from tests.fakes.mammouth import Step as MammouthStep
from tests.fakes.monica import Step as MonicaStep
from tests.test_anthropic_door import READ
from tests.test_responses_api import SHELL
from tests.test_tools_upstreams import call, pool


async def test_anthropic_tool_use_round_trip_on_an_emulated_monica_account(monica, start_gateway):
    monica.script(
        "sess-a",
        MonicaStep(text="I will read it. " + call("Read", path="/etc/hosts")),
        MonicaStep(text="It maps localhost."),
    )
    gw = await start_gateway(pool("monica", monica))
    async with anthropic.AsyncAnthropic(base_url=gw.url, api_key=ALICE, max_retries=0) as client:
        messages: list[Any] = [{"role": "user", "content": "What is in /etc/hosts?"}]
        raw = await client.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=256, messages=messages, tools=[READ]
        )
        assert raw.headers["x-pool-proxy-tools"] == "emulated"
        first = await raw.parse()
        assert first.stop_reason == "tool_use"
        text, use = first.content
        assert text.type == "text" and text.text == "I will read it."
        assert use.type == "tool_use" and (use.name, use.input) == ("Read", {"path": "/etc/hosts"})

        messages += [
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "127.0.0.1"}],
            },
        ]
        final = await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=256, messages=messages, tools=[READ]
        )
    assert final.stop_reason == "end_turn" and final.content[0].text == "It maps localhost."
    sent = monica.seen[1]
    replies = [i["data"]["content"] for i in sent.items[1:] if i["item_type"] == "reply"]  # after the welcome
    assert replies == [
        'I will read it.\n<tool_call>{"name":"Read","arguments":{"path":"/etc/hosts"}}</tool_call>'
    ]
    assert sent.questions[-1] == '<tool_response>{"name":"Read","content":"127.0.0.1"}</tool_response>'


async def test_responses_function_call_on_an_emulated_mammouth_account(mammouth, start_gateway):
    mammouth.script("sess-a", MammouthStep(text=call("shell", cmd="ls"), split=3))
    gw = await start_gateway(pool("mammouth", mammouth))
    async with gw.client().responses.stream(model="gpt-5", input="List the files.", tools=[SHELL]) as stream:
        response = await stream.get_final_response()
    [item] = response.output
    assert item.type == "function_call"
    assert (item.name, json.loads(item.arguments)) == ("shell", {"cmd": "ls"})
    assert '"name":"shell"' in mammouth.seen[0].preprompt
