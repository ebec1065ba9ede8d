"""Tool and output fields in their OpenAI shapes: a malformed one is the client's 400, naming
the field, and never reaches an upstream (whose error would cost an account its health)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conftest import base_config

NAMED = {"type": "function", "function": {"name": "other"}}
NO_ID = {"type": "function", "function": {"name": "lookup", "arguments": "{}"}}
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Find a word",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
        "strict": True,
    },
}
USER = {"role": "user", "content": "look it up"}


def call(**function: Any) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}", **function}}


def turns(*calls: Any) -> list[dict[str, Any]]:
    """system, user, then an assistant turn carrying `calls` as its tool_calls (messages[2])."""
    assistant = {"role": "assistant", "content": None, "tool_calls": list(calls)}
    return [{"role": "system", "content": "be brief"}, USER, assistant]


def function(**fields: Any) -> dict[str, Any]:
    return {"type": "function", "function": fields}


BAD: list[tuple[dict[str, Any], str]] = [
    ({"tools": [9223372036854775808]}, "tools[0]"),
    ({"tools": [[-1]]}, "tools[0]"),
    ({"tools": {"type": "function"}}, "tools"),
    ({"tools": [{"type": "retrieval"}]}, "tools[0]"),
    ({"tools": [{"type": "function"}]}, "tools[0].function"),
    ({"tools": [function(name="has space")]}, "tools[0].function.name"),
    ({"tools": [function(name="x" * 65)]}, "tools[0].function.name"),
    ({"tools": [function(description="no name")]}, "tools[0].function.name"),
    ({"tools": [LOOKUP, function(name="b", parameters="{}")]}, "tools[1].function.parameters"),
    ({"tools": [function(name="b", description=5)]}, "tools[0].function.description"),
    ({"tools": [function(name="b", strict="yes")]}, "tools[0].function.strict"),
    ({"tools": [LOOKUP], "tool_choice": "sometimes"}, "tool_choice"),
    (
        {"tools": [LOOKUP], "tool_choice": NAMED},
        "tool_choice.function.name",
    ),
    ({"tools": [LOOKUP], "tool_choice": {"type": "function"}}, "tool_choice.function"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"parallel_tool_calls": "true"}, "parallel_tool_calls"),
    ({"user": 42}, "user"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": [1]}, "stop"),
    ({"stop": {"at": "x"}}, "stop"),
    ({"response_format": "json"}, "response_format"),
    ({"response_format": {"type": "yaml"}}, "response_format"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    (
        {"response_format": {"type": "json_schema", "json_schema": {}}},
        "response_format.json_schema.name",
    ),
    ({"messages": turns(call(arguments={"word": "x"}))}, "messages[2].tool_calls[0].function.arguments"),
    ({"messages": turns(call(name=None))}, "messages[2].tool_calls[0].function.name"),
    (
        {"messages": turns(NO_ID)},
        "messages[2].tool_calls[0].id",
    ),
    ({"messages": turns(7)}, "messages[2].tool_calls[0]"),
    (
        {"messages": [USER, {"role": "assistant", "content": "", "tool_calls": "lookup"}]},
        "messages[1].tool_calls",
    ),
]


async def test_malformed_tool_and_output_fields_are_400s_naming_the_field(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=2))
    client = gw.client()
    answered: dict[str, str | None] = {}
    for extra, _ in BAD:
        body = {"model": "gpt-4o-mini", "messages": [USER], **extra}
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(**body)
        error = caught.value
        assert error.status_code == 400 and error.code == "invalid_request"
        assert error.param is not None and f"'{error.param}'" in error.message  # said in words too
        answered[repr(extra)[:80]] = error.param
    assert answered == {repr(extra)[:80]: param for extra, param in BAD}

    assert upstream.seen == []  # no malformed body reached an upstream
    _, accounts = await gw.admin("GET", "/admin/accounts")
    assert [(a["state"], a["failures"]) for a in accounts["data"]] == [("active", 0), ("active", 0)]


async def test_tool_and_output_fields_in_their_openai_shapes_reach_the_upstream_unchanged(
    upstream, start_gateway
):
    gw = await start_gateway(base_config(upstream, accounts=1))
    fields: dict[str, Any] = {
        "tools": [LOOKUP, function(name="add-2_numbers")],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": False,
        "user": "user-1234",
        "stop": ["\n\n", "END"],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
    }
    messages = [
        *turns(call(arguments='{"word": "x"}')),
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    reply = await gw.client().chat.completions.create(model="gpt-4o-mini", messages=messages, **fields)
    assert reply.choices[0].message.content
    await gw.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[USER],
        stop="END",
        response_format={"type": "json_object"},
        tool_choice="none",
    )

    first, second = (seen.body for seen in upstream.seen)
    assert {k: first[k] for k in fields} == fields
    assert first["messages"] == messages
    assert (second["stop"], second["response_format"], second["tool_choice"]) == (
        "END",
        {"type": "json_object"},
        "none",
    )
