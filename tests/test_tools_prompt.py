"""What a model without native tools is told: the tools, the block syntax, the history."""

from __future__ import annotations

from typing import Any

import orjson

from proxy.request import ChatRequest, parse_chat
from proxy.tools.prompt import render_history, rewrite

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SEARCH = {"type": "function", "function": {"name": "search"}}


def chat(**body: Any) -> ChatRequest:
    body.setdefault("model", "gpt-4o")
    body.setdefault("messages", [{"role": "user", "content": "Weather in Paris?"}])
    return parse_chat(orjson.dumps(body), {})


def system_text(request: ChatRequest) -> str:
    return "\n".join(m["content"] for m in request.messages if m["role"] == "system")


def test_the_instructions_list_each_tool_with_description_and_schema_and_the_block_syntax() -> None:
    emulation = rewrite(chat(tools=[WEATHER, SEARCH]))
    text = system_text(emulation.request)
    assert '"name":"get_weather"' in text
    assert "Current weather for a city." in text
    assert orjson.dumps(WEATHER["function"]["parameters"]).decode() in text  # type: ignore[index]
    assert '"name":"search"' in text
    assert '<tool_call>{"name": "<tool name>", "arguments": {' in text
    assert "</tool_call>" in text and "<tool_response>" in text
    assert "one block per call" in text
    assert emulation.names == {"get_weather", "search"}


def test_the_rewritten_request_has_no_tool_fields_and_needs_no_tool_capable_account() -> None:
    original = chat(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False, temperature=0.2)
    rewritten = rewrite(original).request
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & rewritten.body.keys()
    assert rewritten.body["temperature"] == 0.2
    assert not rewritten.has_tools and not rewritten.needs.tools
    assert orjson.loads(rewritten.upstream_body(force_usage=False)).get("tools") is None
    assert "tools" in original.body  # the client's request is left as it was, for other accounts


def test_the_instructions_follow_the_clients_own_system_text() -> None:
    request = chat(
        tools=[WEATHER],
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
    )
    messages = rewrite(request).request.messages
    assert [m["role"] for m in messages] == ["system", "system", "user"]
    assert messages[0]["content"] == "You are terse."
    assert "get_weather" in messages[1]["content"]


def test_auto_lets_the_model_choose() -> None:
    text = system_text(rewrite(chat(tools=[WEATHER])).request)
    assert "only when it helps" in text
    assert "must call" not in text


def test_required_tells_the_model_it_must_call_a_tool() -> None:
    text = system_text(rewrite(chat(tools=[WEATHER], tool_choice="required")).request)
    assert "You must call at least one of these tools" in text


def test_a_named_tool_choice_tells_the_model_to_call_that_tool() -> None:
    choice = {"type": "function", "function": {"name": "search"}}
    text = system_text(rewrite(chat(tools=[WEATHER, SEARCH], tool_choice=choice)).request)
    assert "You must call the tool `search`" in text


def test_none_sends_no_tool_text_at_all_and_accepts_no_call() -> None:
    emulation = rewrite(chat(tools=[WEATHER], tool_choice="none"))
    assert emulation.prompt == ""
    assert emulation.names == frozenset()
    sent = orjson.dumps(emulation.request.body).decode()
    assert "get_weather" not in sent and "tool_call" not in sent


def test_parallel_tool_calls_false_asks_for_one_call_at_a_time() -> None:
    text = system_text(rewrite(chat(tools=[WEATHER], parallel_tool_calls=False)).request)
    assert "at most one tool per answer" in text


HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris and Oslo?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_a", "content": "18C, sunny"},
    {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "3C, snow"}]},
]


def test_an_assistant_turn_that_called_tools_is_rendered_as_its_blocks() -> None:
    rendered = render_history(HISTORY)
    assert rendered[1] == {
        "role": "assistant",
        "content": '<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>\n'
        '<tool_call>{"name":"get_weather","arguments":{"city":"Oslo"}}</tool_call>',
    }


def test_the_results_of_parallel_calls_come_back_together_in_one_user_turn_in_order() -> None:
    rendered = render_history(HISTORY)
    assert len(rendered) == 3
    assert rendered[2] == {
        "role": "user",
        "content": '<tool_response>{"name":"get_weather","content":"18C, sunny"}</tool_response>\n'
        '<tool_response>{"name":"get_weather","content":"3C, snow"}</tool_response>',
    }


def test_a_user_message_after_tool_results_joins_their_turn() -> None:
    rendered = render_history([*HISTORY, {"role": "user", "content": "And Rome?"}])
    assert [m["role"] for m in rendered] == ["user", "assistant", "user"]
    assert rendered[2]["content"].endswith("</tool_response>\n\nAnd Rome?")


def test_an_assistant_turn_with_text_and_calls_keeps_its_text_first() -> None:
    message = {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "search", "arguments": "{}"}}],
    }
    assert render_history([message])[0]["content"] == (
        'Let me look.\n<tool_call>{"name":"search","arguments":{}}</tool_call>'
    )


def test_a_tool_message_names_itself_when_its_call_is_not_in_the_history() -> None:
    rendered = render_history([{"role": "tool", "tool_call_id": "gone", "name": "search", "content": "hit"}])
    assert rendered == [
        {"role": "user", "content": '<tool_response>{"name":"search","content":"hit"}</tool_response>'}
    ]


def test_the_rewritten_history_has_no_tool_roles_left() -> None:
    messages = rewrite(chat(tools=[WEATHER], messages=HISTORY)).request.messages
    assert {m["role"] for m in messages} <= {"system", "user", "assistant"}
    assert all(isinstance(m.get("content"), str) for m in messages)
    assert not any("tool_calls" in m for m in messages)
