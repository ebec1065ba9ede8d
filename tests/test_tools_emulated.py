"""The emulation wrapper: the rewritten request goes up, tool calls come back down."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson

from proxy.core.events import Event, Finish, ReasoningDelta, Reply, TextDelta, ToolCallDelta, Usage
from proxy.request import ChatRequest, parse_chat
from proxy.tools.emulated import EmulatedTools

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


class ScriptedProvider:
    """Answers with a fixed text, as a provider without native tools would, and keeps what it got."""

    def __init__(self, chunks: list[str], reasoning: str = "") -> None:
        self.chunks = chunks
        self.reasoning = reasoning
        self.received: list[ChatRequest] = []
        self.closed = False

    async def complete(self, request: ChatRequest) -> Reply:
        self.received.append(request)
        return Reply(text="".join(self.chunks), reasoning=self.reasoning, usage=Usage(40, 9, estimated=True))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        self.received.append(request)
        try:
            if self.reasoning:
                yield ReasoningDelta(self.reasoning)
            for chunk in self.chunks:
                yield TextDelta(chunk)
            yield Finish("stop")
            yield Usage(40, 9, estimated=True)
        finally:
            self.closed = True


def chat(**body: Any) -> ChatRequest:
    body.setdefault("model", "gpt-4o")
    body.setdefault("messages", [{"role": "user", "content": "Weather in Paris?"}])
    return parse_chat(orjson.dumps(body), {})


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


async def test_a_stream_with_a_block_becomes_tool_call_deltas_and_finishes_with_tool_calls() -> None:
    upstream = ScriptedProvider(["Checking. <to", "ol_call>", CALL[11:30], CALL[30:]])
    events = await collect(EmulatedTools(upstream).stream(chat(tools=[WEATHER], stream=True)))
    assert events[0] == TextDelta("Checking.")
    call = events[1]
    assert isinstance(call, ToolCallDelta)
    assert (call.index, call.name, call.arguments) == (0, "get_weather", '{"city":"Paris"}')
    assert call.id is not None and call.id.startswith("call_")
    assert events[2:] == [Finish("tool_calls"), Usage(40, 9, estimated=True)]


async def test_reasoning_passes_through_untouched_before_the_call() -> None:
    upstream = ScriptedProvider([CALL], reasoning="The user wants <tool_call> weather.")
    events = await collect(EmulatedTools(upstream).stream(chat(tools=[WEATHER], stream=True)))
    assert events[0] == ReasoningDelta("The user wants <tool_call> weather.")
    assert isinstance(events[1], ToolCallDelta)


async def test_a_stream_without_a_block_keeps_its_finish_reason() -> None:
    upstream = ScriptedProvider(["It is ", "sunny."])
    events = await collect(EmulatedTools(upstream).stream(chat(tools=[WEATHER], stream=True)))
    assert events == [TextDelta("It is"), TextDelta(" sunny."), Finish("stop"), Usage(40, 9, estimated=True)]


async def test_a_reply_with_a_block_has_tool_calls_and_the_text_around_them() -> None:
    upstream = ScriptedProvider(["Checking.\n", CALL])
    reply = await EmulatedTools(upstream).complete(chat(tools=[WEATHER]))
    assert reply.text == "Checking."
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", '{"city":"Paris"}')]
    assert reply.finish == "tool_calls"
    assert reply.usage == Usage(40, 9, estimated=True)


async def test_the_upstream_gets_the_instructions_and_no_tool_fields() -> None:
    upstream = ScriptedProvider(["Fine."])
    await EmulatedTools(upstream).complete(chat(tools=[WEATHER], tool_choice="required"))
    sent = upstream.received[0]
    assert "tools" not in sent.body and "tool_choice" not in sent.body
    assert sent.messages[0]["role"] == "system"
    assert "You must call at least one of these tools" in sent.messages[0]["content"]


async def test_a_request_without_tools_reaches_the_upstream_unchanged() -> None:
    upstream = ScriptedProvider(["Hi ", CALL])
    request = chat()
    reply = await EmulatedTools(upstream).complete(request)
    assert upstream.received == [request]
    assert reply.tool_calls == [] and reply.text == "Hi " + CALL


async def test_with_tool_choice_none_a_block_in_the_answer_stays_text() -> None:
    upstream = ScriptedProvider([CALL])
    events = await collect(EmulatedTools(upstream).stream(chat(tools=[WEATHER], tool_choice="none")))
    assert events[0] == TextDelta(CALL)
    assert Finish("stop") in events


async def test_closing_the_stream_early_closes_the_providers_stream_at_once() -> None:
    upstream = ScriptedProvider(["Hello ", "there ", CALL])
    events = EmulatedTools(upstream).stream(chat(tools=[WEATHER], stream=True))
    assert await anext(events) == TextDelta("Hello")
    await events.aclose()  # the client went away
    assert upstream.closed
