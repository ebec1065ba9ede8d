"""The Responses door's request translation: a Responses body → the chat body the pool runs."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.core.errors import GatewayError
from proxy.doors.responses.request import ResponsesRequest, parse_responses


def parse(body: dict[str, Any], **kwargs: Any) -> ResponsesRequest:
    return parse_responses(orjson.dumps(body), {"codex-model": "gpt-4o-mini"}, **kwargs)


def messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return parse({"model": "gpt-4o-mini", **body}).chat.messages


def refused(body: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        parse(body)
    assert caught.value.status == 400
    return caught.value


def call(call_id: str, name: str = "shell", arguments: str = '{"cmd":"ls"}') -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def output(call_id: str, text: Any = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def test_string_input_is_one_user_turn_after_the_instructions() -> None:
    assert messages({"input": "Hi", "instructions": "Be brief."}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_message_items_keep_their_roles_and_developer_becomes_system() -> None:
    got = messages(
        {
            "input": [
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "Rules."}],
                },
                {
                    "role": "user",
                    "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}],
                },
                {"role": "assistant", "content": [{"type": "output_text", "text": "Sure."}]},
            ]
        }
    )
    assert got == [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": "Sure."},
    ]


def test_input_image_reaches_the_pool_as_a_chat_image_and_needs_vision() -> None:
    parsed = parse(
        {
            "model": "gpt-4o-mini",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is it?"},
                        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                    ],
                }
            ],
        }
    )
    assert parsed.chat.messages[0]["content"] == [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
    ]
    assert parsed.chat.needs.vision


def test_an_uploaded_file_id_is_refused_naming_the_field() -> None:
    error = refused(
        {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}],
        }
    )
    assert error.param == "input[0].content[0].file_id"


def test_text_and_the_calls_beside_it_are_one_assistant_turn_with_results_right_after() -> None:
    got = messages(
        {
            "input": [
                {"role": "user", "content": "list and count"},
                {"role": "assistant", "content": "Running both."},
                call("call_a"),
                call("call_b", "count"),
                output("call_a", "a.py"),
                output("call_b", "1"),
                {"role": "user", "content": "thanks"},
            ]
        }
    )
    assert [m["role"] for m in got] == ["user", "assistant", "tool", "tool", "user"]
    assert got[1]["content"] == "Running both."
    assert [c["id"] for c in got[1]["tool_calls"]] == ["call_a", "call_b"]
    assert got[1]["tool_calls"][0]["function"] == {"name": "shell", "arguments": '{"cmd":"ls"}'}
    assert [m["tool_call_id"] for m in got[2:4]] == ["call_a", "call_b"]


def test_a_message_between_a_call_and_its_output_leaves_no_orphan_tool_turn() -> None:
    got = messages({"input": [call("call_a"), {"role": "assistant", "content": "hm"}, output("call_a")]})
    assert [(m["role"], m.get("tool_call_id")) for m in got] == [
        ("assistant", None),
        ("tool", "call_a"),
        ("assistant", None),
    ]
    assert got[2]["content"] == "hm"


def test_a_call_after_a_tool_result_starts_a_new_assistant_turn() -> None:
    got = messages({"input": [call("call_a"), output("call_a"), call("call_b"), output("call_b")]})
    assert [m["role"] for m in got] == ["assistant", "tool", "assistant", "tool"]


def test_an_output_for_no_known_call_becomes_user_text() -> None:
    got = messages({"input": [{"role": "user", "content": "hi"}, output("call_gone", "stale")]})
    assert got[1] == {"role": "user", "content": "[tool result for call_gone]\nstale"}


def test_tool_output_given_as_content_parts_is_flattened_to_text() -> None:
    got = messages(
        {
            "input": [
                call("c1"),
                output(
                    "c1", [{"type": "input_text", "text": "line 1"}, {"type": "input_text", "text": "line 2"}]
                ),
            ]
        }
    )
    assert got[1] == {"role": "tool", "tool_call_id": "c1", "content": "line 1\nline 2"}


def test_a_replayed_codex_transcript_is_accepted() -> None:
    """Codex resends everything: developer prompts, encrypted reasoning, custom tool calls."""
    got = messages(
        {
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sys"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA…"},
                {
                    "type": "custom_tool_call",
                    "call_id": "c1",
                    "name": "apply_patch",
                    "input": "*** Begin Patch",
                },
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done"},
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {
                    "type": "function_call",
                    "call_id": "c2",
                    "name": "spawn",
                    "namespace": "agents",
                    "arguments": "{}",
                },
                output("c2", "spawned"),
            ]
        }
    )
    assert [m["role"] for m in got] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert got[2]["tool_calls"][0]["function"] == {
        "name": "apply_patch",
        "arguments": '{"input":"*** Begin Patch"}',
    }
    assert got[4]["tool_calls"][0]["function"]["name"] == "agents__spawn"


def test_an_item_reference_is_refused_since_nothing_is_stored() -> None:
    assert refused({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}).param == "input[0]"


def test_previous_response_id_answers_previous_response_not_found() -> None:
    error = refused({"model": "m", "input": "hi", "previous_response_id": "resp_x"})
    assert error.code == "previous_response_not_found"
    assert error.param == "previous_response_id"
    assert "resp_x" in error.message


def test_flat_function_tools_are_nested_and_hosted_tools_left_out() -> None:
    parsed = parse(
        {
            "model": "gpt-4o-mini",
            "input": "hi",
            "tools": [
                {
                    "type": "function",
                    "name": "shell",
                    "description": "Run",
                    "parameters": {"type": "object"},
                    "strict": False,
                },
                {"type": "web_search", "external_web_access": False},
                {"type": "file_search", "vector_store_ids": ["vs_1"]},
            ],
            "tool_choice": {"type": "function", "name": "shell"},
            "parallel_tool_calls": True,
        }
    )
    body = parsed.chat.body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "shell",
                "description": "Run",
                "parameters": {"type": "object"},
                "strict": False,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "shell"}}
    assert body["parallel_tool_calls"] is True
    assert parsed.chat.needs.tools


def test_only_hosted_tools_means_no_tools_upstream_and_any_account() -> None:
    parsed = parse({"model": "m", "input": "hi", "tools": [{"type": "web_search"}], "tool_choice": "auto"})
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & parsed.chat.body.keys()
    assert not parsed.chat.needs.tools


def test_tool_choice_none_lets_any_account_answer() -> None:
    tools = [{"type": "function", "name": "shell", "parameters": {"type": "object"}}]
    parsed = parse({"model": "m", "input": "hi", "tools": tools, "tool_choice": "none"})
    assert parsed.chat.body["tool_choice"] == "none"
    assert not parsed.chat.needs.tools


def test_namespace_tools_are_offered_and_named_back_as_the_client_declared_them() -> None:
    parsed = parse(
        {
            "model": "m",
            "input": "hi",
            "tools": [
                {
                    "type": "namespace",
                    "name": "multi_agent_v1",
                    "description": "Agents",
                    "tools": [
                        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}},
                        {"type": "function", "name": "wait", "parameters": {"type": "object"}},
                    ],
                }
            ],
        }
    )
    offered = [t["function"]["name"] for t in parsed.chat.body["tools"]]
    assert offered == ["multi_agent_v1__spawn_agent", "multi_agent_v1__wait"]
    tool = parsed.names.client("multi_agent_v1__wait")
    assert (tool.kind, tool.name, tool.namespace) == ("function", "wait", "multi_agent_v1")


def test_a_long_namespaced_name_stays_within_64_characters() -> None:
    inner = {"type": "function", "name": "f" * 40, "parameters": {"type": "object"}}
    parsed = parse(
        {"model": "m", "input": "hi", "tools": [{"type": "namespace", "name": "n" * 40, "tools": [inner]}]}
    )
    upstream = parsed.chat.body["tools"][0]["function"]["name"]
    assert len(upstream) <= 64
    assert parsed.names.client(upstream).name == "f" * 40


def test_a_custom_tool_is_offered_as_a_function_of_one_string() -> None:
    parsed = parse(
        {
            "model": "m",
            "input": "hi",
            "tools": [{"type": "custom", "name": "apply_patch", "description": "Patch"}],
        }
    )
    function = parsed.chat.body["tools"][0]["function"]
    assert function["name"] == "apply_patch"
    assert function["parameters"]["required"] == ["input"]
    assert parsed.names.client("apply_patch").kind == "custom"


def test_a_chat_completions_style_tool_is_refused_with_a_clear_message() -> None:
    error = refused({"model": "m", "input": "hi", "tools": [{"type": "function", "function": {"name": "x"}}]})
    assert error.param == "tools[0]"
    assert "flat" in error.message


def test_sampling_fields_map_and_openai_only_fields_are_not_forwarded() -> None:
    body = parse(
        {
            "model": "codex-model",
            "input": "hi",
            "stream": True,
            "max_output_tokens": 300,
            "temperature": 0.2,
            "top_p": 0.9,
            "reasoning": {"effort": "low", "summary": "auto"},
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}},
                "verbosity": "low",
            },
            "store": False,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "k",
            "client_metadata": {"x": "y"},
            "metadata": {"a": "b"},
        }
    ).chat.body
    assert body == {
        "model": "codex-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "reasoning_effort": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}},
        },
    }


def test_the_model_alias_resolves_and_the_requested_name_is_echoed() -> None:
    parsed = parse({"model": "codex-model", "input": "hi"})
    assert (parsed.chat.model, parsed.model) == ("gpt-4o-mini", "codex-model")


def test_a_missing_model_takes_the_default_else_is_refused() -> None:
    assert parse({"input": "hi"}, default_model="gpt-4o").chat.model == "gpt-4o"
    assert refused({"input": "hi"}).param == "model"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m"}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": [{"type": "function_call", "name": "x"}]}, "input[0].call_id"),
        ({"model": "m", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "hi", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"model": "m", "input": "hi", "tools": {"type": "function"}}, "tools"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(body: dict[str, Any], param: str) -> None:
    assert refused(body).param == param
