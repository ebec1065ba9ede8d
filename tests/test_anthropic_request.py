"""The Anthropic Messages body → the chat body the pool forwards (frontdoors.md §2)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.doors.anthropic.request import (
    MAX_OUTPUT_TOKENS,
    MessagesRequest,
    count_input_tokens,
    parse_messages,
)


def parse(aliases: dict[str, str] | None = None, **body: Any) -> MessagesRequest:
    body.setdefault("model", "claude-sonnet-4-5-20250929")
    body.setdefault("max_tokens", 1024)
    body.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return parse_messages(orjson.dumps(body), aliases or {})


def upstream(request: MessagesRequest) -> dict[str, Any]:
    """What an OpenAI-compatible account would receive."""
    return orjson.loads(request.chat.upstream_body(force_usage=True))  # type: ignore[no-any-return]


def rejected(**body: Any) -> Any:
    with pytest.raises(Exception) as caught:
        parse(**body)
    error = caught.value
    assert error.status == 400  # type: ignore[attr-defined]
    return error


def test_a_plain_request_becomes_a_chat_request_for_the_aliased_model() -> None:
    request = parse({"claude-sonnet-4-5-20250929": "gpt-4o-mini"}, temperature=0.2, top_p=0.9)
    body = upstream(request)
    assert body["model"] == "gpt-4o-mini"
    assert request.model == "claude-sonnet-4-5-20250929"
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (1024, 0.2, 0.9)


def test_system_blocks_lose_the_billing_header_and_stay_byte_stable() -> None:
    def system(billing: str) -> Any:
        blocks = [
            {"type": "text", "text": f"x-anthropic-billing-header: cc_version=2.1; cch={billing};"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief."},
        ]
        return upstream(parse(system=blocks))["messages"][0]

    first, second = system("aaa"), system("bbb")
    assert first == {"role": "system", "content": "You are Claude Code.\n\nBe brief."}
    assert first == second


def test_a_system_string_leads_the_messages() -> None:
    assert upstream(parse(system="Be brief."))["messages"][0] == {"role": "system", "content": "Be brief."}


def test_images_become_image_url_parts() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What are these?"},
    ]
    request = parse(messages=[{"role": "user", "content": content}])
    assert upstream(request)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What are these?"},
    ]
    assert request.chat.needs.vision


def test_tool_results_come_right_after_the_call_and_before_the_turn_text() -> None:
    messages = [
        {"role": "user", "content": "Read both files"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "two reads", "signature": "sig"},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_A", "name": "Read", "input": {"path": "a.py"}},
                {"type": "tool_use", "id": "toolu_B", "name": "Read", "input": {"path": "b.py"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Also, hurry."},
                {"type": "tool_result", "tool_use_id": "toolu_A", "content": "print('a')"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_B",
                    "content": [{"type": "text", "text": "no such file"}],
                    "is_error": True,
                },
            ],
        },
    ]
    sent = upstream(parse(messages=messages))["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    assert sent[1] == {
        "role": "assistant",
        "content": "Reading.",
        "tool_calls": [
            {
                "id": "toolu_A",
                "type": "function",
                "function": {"name": "Read", "arguments": '{"path":"a.py"}'},
            },
            {
                "id": "toolu_B",
                "type": "function",
                "function": {"name": "Read", "arguments": '{"path":"b.py"}'},
            },
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_A", "content": "print('a')"}
    assert sent[3]["tool_call_id"] == "toolu_B"
    assert sent[3]["content"].endswith("no such file") and "error" in sent[3]["content"]
    assert sent[4] == {"role": "user", "content": "Also, hurry."}


def test_consecutive_user_turns_merge_so_nothing_lands_between_a_call_and_its_result() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": "by the way"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    ]
    sent = upstream(parse(messages=messages))["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[1]["content"] is None


def test_a_tool_result_image_follows_as_a_user_part() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    messages = [
        {"role": "user", "content": "shot"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Screenshot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "ok"}, image],
                }
            ],
        },
    ]
    sent = upstream(parse(messages=messages))["messages"]
    assert sent[2] == {"role": "tool", "tool_call_id": "t1", "content": "ok"}
    assert sent[3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
    }


def test_tools_become_functions_and_server_tools_are_left_out() -> None:
    tools = [
        {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {}}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"name": "Todo", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
    ]
    request = parse(tools=tools, tool_choice={"type": "any", "disable_parallel_tool_use": True})
    body = upstream(request)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Read",
                "parameters": {"type": "object", "properties": {}},
                "description": "Read a file",
            },
        },
        {"type": "function", "function": {"name": "Todo", "parameters": {"type": "object"}}},
    ]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert request.chat.needs.tools


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Read"}, {"type": "function", "function": {"name": "Read"}}),
    ],
)
def test_tool_choice_maps_to_openai(choice: dict[str, Any], expected: Any) -> None:
    body = upstream(parse(tools=[{"name": "Read", "input_schema": {"type": "object"}}], tool_choice=choice))
    assert body["tool_choice"] == expected
    assert "parallel_tool_calls" not in body


def test_offered_tools_need_a_tool_capable_account_unless_choice_is_none() -> None:
    tools = [{"name": "Read", "input_schema": {"type": "object"}}]
    assert parse(tools=tools).chat.needs.tools
    assert not parse(tools=tools, tool_choice={"type": "none"}).chat.needs.tools
    assert not parse().chat.needs.tools


def test_an_empty_tool_list_sends_neither_tools_nor_tool_choice() -> None:
    request = parse(tools=[], tool_choice={"type": "auto"})
    body = upstream(request)
    assert "tools" not in body and "tool_choice" not in body
    assert not request.chat.needs.tools


def test_only_server_tools_means_a_tool_free_request() -> None:
    body = upstream(parse(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    assert "tools" not in body


def test_long_tool_names_are_shortened_upstream_and_restored_for_the_client() -> None:
    long = "mcp__a_very_long_server_name_for_testing__and_an_even_longer_tool_name_here"
    request = parse(tools=[{"name": long, "input_schema": {"type": "object"}}])
    sent = upstream(request)["tools"][0]["function"]["name"]
    assert len(sent) <= 64 and sent != long
    assert request.names.client(sent) == long


def test_unknown_fields_betas_and_cache_control_are_never_forwarded() -> None:
    request = parse(
        context_management={"edits": [{"type": "clear_thinking_20251015"}]},
        service_tier="auto",
        top_k=5,
        container="c1",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    )
    body = upstream(request)
    assert set(body) == {"model", "messages", "max_tokens"}
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_stream_asks_the_upstream_for_usage() -> None:
    request = parse(stream=True)
    assert request.chat.stream
    assert upstream(request)["stream_options"] == {"include_usage": True}


def test_stop_sequences_become_stop_within_openai_limit() -> None:
    body = upstream(parse(stop_sequences=["a", "b", "c", "d", "e"]))
    assert body["stop"] == ["a", "b", "c", "d"]


def test_max_tokens_is_clamped_to_what_openai_models_accept() -> None:
    assert upstream(parse(max_tokens=32000))["max_tokens"] == MAX_OUTPUT_TOKENS


@pytest.mark.parametrize(
    ("thinking", "config", "effort", "shows"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, None, "low", True),
        ({"type": "enabled", "budget_tokens": 8000}, None, "medium", True),
        ({"type": "adaptive", "display": "omitted"}, {"effort": "medium"}, "medium", False),  # Claude Code
        ({"type": "adaptive"}, {"effort": "max"}, "high", True),
        ({"type": "enabled", "budget_tokens": 31999, "display": "omitted"}, None, "high", False),
        ({"type": "adaptive"}, {"effort": "low"}, "low", True),
        ({"type": "disabled"}, None, None, False),
    ],
)
def test_thinking_becomes_reasoning_effort(
    thinking: dict[str, Any], config: dict[str, Any] | None, effort: str | None, shows: bool
) -> None:
    request = parse(thinking=thinking, **({"output_config": config} if config else {}))
    assert upstream(request).get("reasoning_effort") == effort
    assert request.thinking is shows


def test_a_json_schema_output_format_becomes_response_format() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    body = upstream(parse(output_config={"format": {"type": "json_schema", "schema": schema}}))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }


def test_metadata_user_id_is_kept_and_sent_as_a_short_user() -> None:
    user_id = '{"device_id":"' + "d" * 64 + '","session_id":"s-1"}'
    request = parse(metadata={"user_id": user_id})
    assert request.user_id == user_id
    sent = upstream(request)["user"]
    assert len(sent) <= 64
    assert sent == upstream(parse(metadata={"user_id": user_id}))["user"]  # stable per user
    assert upstream(parse(metadata={"user_id": "alice"}))["user"] == "alice"


def test_missing_max_tokens_is_a_400_naming_it() -> None:
    with pytest.raises(Exception) as caught:
        parse_messages(orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}), {})
    assert caught.value.param == "max_tokens"  # type: ignore[attr-defined]
    assert "max_tokens" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0.type"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages.0.content.0.text"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                    }
                ]
            },
            "messages.0.content.0.source.type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
            "messages.0.content.0.tool_use_id",
        ),
        ({"temperature": 1.5}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"tools": [{"input_schema": {}}]}, "tools.0.name"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"system": [{"type": "image"}]}, "system.0"),
        ({"model": ""}, "model"),
    ],
)
def test_bad_fields_are_400s_that_name_the_field(body: dict[str, Any], field: str) -> None:
    error = rejected(**body)
    assert error.param == field
    assert field in error.message


def test_a_body_that_is_not_json_is_a_400() -> None:
    with pytest.raises(Exception) as caught:
        parse_messages(b"{nope", {})
    assert caught.value.status == 400  # type: ignore[attr-defined]


def test_count_tokens_needs_no_max_tokens_and_grows_with_everything_sent() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "Hello there"}]}
    small = count_input_tokens(orjson.dumps(base))
    with_system = count_input_tokens(orjson.dumps({**base, "system": "Be brief. " * 50}))
    tool = {"name": "Read", "description": "Read a file " * 20, "input_schema": {"type": "object"}}
    with_tools = count_input_tokens(orjson.dumps({**base, "tools": [tool]}))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    with_image = count_input_tokens(
        orjson.dumps({**base, "messages": [{"role": "user", "content": [image]}]})
    )
    assert 0 < small < with_system
    assert small < with_tools
    assert small < with_image


def test_message_start_estimate_matches_count_tokens() -> None:
    body = {"model": "m", "system": "S" * 400, "messages": [{"role": "user", "content": "x" * 800}]}
    request = parse_messages(orjson.dumps({**body, "max_tokens": 10}), {})
    assert request.input_tokens() == count_input_tokens(orjson.dumps(body)) > 250


def test_mid_conversation_system_turns_stay_and_never_split_a_call_from_its_result() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "system", "content": [{"type": "text", "text": "# Environment\ncwd: /w"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
        {"role": "system", "content": "Tools changed."},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    ]
    sent = upstream(parse(system="Main prompt.", messages=messages))["messages"]
    assert [(m["role"], m.get("content")) for m in sent] == [
        ("system", "Main prompt."),
        ("user", "go"),
        ("system", "# Environment\ncwd: /w"),
        ("assistant", None),
        ("tool", "ok"),
        ("system", "Tools changed."),
    ]
