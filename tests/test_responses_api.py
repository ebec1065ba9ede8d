"""`POST /v1/responses` end to end: the real `openai` SDK against the real gateway, an
`openai` account on the fake upstream."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import ALICE, base_config, until
from tests.fakes.openai_upstream import Step, calls_step, error_step
from tests.test_metrics import scrape, value

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in (1, 2, 3)}
SHELL = {
    "type": "function",
    "name": "shell",
    "description": "Run a command",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
}


async def test_create_answers_through_the_pool_with_usage(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    response = await gw.client().responses.create(model="gpt-4o-mini", input="Hi", instructions="Be brief.")
    assert response.status == "completed"
    assert response.output_text == "Hello from the fake upstream!"
    assert response.id.startswith("resp_")
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (
        11,
        7,
        18,
    )
    assert upstream.seen[0].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


async def test_the_sdk_stream_helper_collects_text_and_the_final_response(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    deltas = []
    async with gw.client().responses.stream(model="gpt-4o-mini", input="Hi") as stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = await stream.get_final_response()
    assert "".join(deltas) == "Hello from the fake upstream!"
    assert final.output_text == "Hello from the fake upstream!"
    assert final.usage is not None and final.usage.total_tokens == 18


async def test_a_streamed_function_call_round_trip(upstream, start_gateway):
    """Turn 1 asks for a call (its arguments in many pieces); turn 2 sends the result back."""
    upstream.default = calls_step(("shell", '{"cmd": "ls -la /tmp"}'), text="Let me look.")
    gw = await start_gateway(base_config(upstream, accounts=1))
    client = gw.client()
    async with client.responses.stream(
        model="gpt-4o-mini", input="What is in /tmp?", tools=[SHELL]
    ) as stream:
        arguments = "".join(
            [e.delta async for e in stream if e.type == "response.function_call_arguments.delta"]
        )
        first = await stream.get_final_response()
    assert arguments == '{"cmd": "ls -la /tmp"}'
    assert [item.type for item in first.output] == ["message", "function_call"]
    call = first.output[1]
    assert (call.name, call.arguments) == ("shell", arguments)
    assert upstream.seen[0].body["tools"][0]["function"]["name"] == "shell"

    upstream.default = Step(text="There are two files.")
    history: list[Any] = [
        {"role": "user", "content": "What is in /tmp?"},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "a.txt\nb.txt"},
    ]
    second = await client.responses.create(model="gpt-4o-mini", input=history, tools=[SHELL])
    assert second.output_text == "There are two files."
    messages = upstream.seen[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["content"] == "Let me look."
    assert messages[1]["tool_calls"][0]["id"] == call.call_id
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "a.txt\nb.txt"}


async def test_a_non_stream_answer_lists_every_call(upstream, start_gateway):
    upstream.default = calls_step(("shell", '{"cmd": "ls"}'), ("shell", '{"cmd": "pwd"}'))
    gw = await start_gateway(base_config(upstream, accounts=1))
    response = await gw.client().responses.create(model="gpt-4o-mini", input="Go", tools=[SHELL])
    assert [(o.type, o.arguments) for o in response.output] == [
        ("function_call", '{"cmd": "ls"}'),
        ("function_call", '{"cmd": "pwd"}'),
    ]


async def test_namespace_tools_come_back_under_the_declared_names(upstream, start_gateway):
    upstream.default = calls_step(("agents__spawn", '{"task": "x"}'))
    gw = await start_gateway(base_config(upstream, accounts=1))
    namespace = {
        "type": "namespace",
        "name": "agents",
        "description": "Sub-agents",
        "tools": [{**SHELL, "name": "spawn"}],
    }
    response = await gw.client().responses.create(
        model="gpt-4o-mini", input="Go", tools=[namespace, {"type": "web_search"}], stream=False
    )
    call = response.output[0]
    assert (call.type, call.name, call.namespace) == ("function_call", "spawn", "agents")
    assert [t["function"]["name"] for t in upstream.seen[0].body["tools"]] == ["agents__spawn"]


async def test_a_raw_stream_is_event_lines_in_order_ending_with_completed(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    resp = await gw.post("/v1/responses", {"model": "gpt-4o-mini", "input": "Hi", "stream": True})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    frames = [f for f in (await resp.read()).decode().split("\n\n") if f and not f.startswith(":")]
    payloads = []
    for frame in frames:
        event, data = frame.split("\n")
        payload = orjson.loads(data.removeprefix("data: "))
        assert event == f"event: {payload['type']}"
        payloads.append(payload)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert payloads[0]["type"] == "response.created"
    assert payloads[-1]["type"] == "response.completed"
    assert payloads[-1]["response"]["usage"]["total_tokens"] == 18


async def test_a_stream_that_breaks_after_the_first_byte_ends_with_response_failed(upstream, start_gateway):
    upstream.default = Step(kind="reset", text="one two three four")
    gw = await start_gateway(base_config(upstream, accounts=1))
    seen = []
    async with gw.client().responses.stream(model="gpt-4o-mini", input="Hi") as stream:
        async for event in stream:
            seen.append(event)
    assert seen[-1].type == "response.failed"
    failed = seen[-1].response
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "upstream_error"
    assert "response.completed" not in [e.type for e in seen]


async def test_a_client_that_hangs_up_cancels_the_upstream_and_frees_the_lease(upstream, start_gateway):
    upstream.default = Step(text="one two three", hold=asyncio.Event(), hold_after=1)
    gw = await start_gateway(base_config(upstream, accounts=1))
    resp = await gw.post("/v1/responses", {"model": "gpt-4o-mini", "input": "Hi", "stream": True})
    await resp.content.readuntil(b"response.output_text.delta")  # the first word arrived
    await until(lambda: upstream.held == 1)
    resp.close()
    await until(lambda: upstream.open_streams == 0 and upstream.closed_by_client == 1)
    await until(lambda: gw.gateway.store.in_flight("acct-1") == 0)


async def test_a_rate_limited_account_is_skipped(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", **{"Retry-After": "30"}))
    gw = await start_gateway(base_config(upstream, accounts=2))
    response = await gw.client().responses.create(model="gpt-4o-mini", input="Hi")
    assert response.output_text == "Hello from the fake upstream!"
    assert upstream.keys_seen() == [KEY[1], KEY[2]]
    assert (await gw.account("acct-1"))["state"] == "cooling"


async def test_a_client_over_its_bucket_gets_openais_429(upstream, start_gateway):
    raw = base_config(upstream)
    raw["clients"][0]["rate_limit"] = {"rpm": 1, "burst": 1}
    gw = await start_gateway(raw)
    client = gw.client()
    await client.responses.create(model="gpt-4o-mini", input="Hi")
    with pytest.raises(openai.RateLimitError) as caught:
        await client.responses.create(model="gpt-4o-mini", input="Hi again")
    assert caught.value.code == "rate_limit_exceeded"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert len(upstream.seen) == 1


async def test_previous_response_id_is_refused_and_costs_no_upstream_call(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().responses.create(model="gpt-4o-mini", input="more", previous_response_id="resp_abc")
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"
    assert upstream.seen == []


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": "no-such-model", "input": "hi"}, 404, "model_not_found", "model"),
        ({"model": "gpt-4o-mini", "input": 3}, 400, "invalid_request", "input"),
        (
            {"model": "gpt-4o-mini", "input": "hi", "tools": [{"type": "function", "function": {}}]},
            400,
            "invalid_request",
            "tools[0]",
        ),
    ],
)
async def test_errors_use_openais_envelope(upstream, start_gateway, body, status, code, param):
    gw = await start_gateway(base_config(upstream))
    resp = await gw.post("/v1/responses", body)
    assert resp.status == status
    error = (await resp.json())["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert set(error) == {"message", "type", "param", "code"}


async def test_a_wrong_key_is_401(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    with pytest.raises(openai.AuthenticationError):
        await gw.client("sk-wrong").responses.create(model="gpt-4o-mini", input="Hi")
    assert ALICE not in str(upstream.seen)


async def test_an_input_image_reaches_the_upstream_as_a_chat_image(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=1))
    image = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "input_text", "text": "What is it?"},
        {"type": "input_image", "image_url": image, "detail": "low"},
    ]
    await gw.client().responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": content}])
    assert upstream.seen[0].body["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": image, "detail": "low"},
    }


async def test_tools_for_a_model_no_account_can_call_tools_with_is_a_400_naming_it(monica, start_gateway):
    gw = await start_gateway(
        {
            "clients": [{"name": "alice", "key": ALICE}],
            "accounts": [
                {"id": "monica-1", "provider": "monica", "cookie": "sess-a", "base_url": monica.url}
            ],
            "pool": {"unsupported_tools": "reject"},
        }
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().responses.create(model="claude-sonnet-4-5", input="Go", tools=[SHELL])
    assert "claude-sonnet-4-5" in caught.value.message
    assert monica.seen == []


async def test_metrics_and_usage_tell_the_responses_route_apart(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    client = gw.client()
    await client.responses.create(model="gpt-4o-mini", input="Hi")
    async with client.responses.stream(model="gpt-4o-mini", input="Hi") as stream:
        await stream.get_final_response()
    await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    samples = await scrape(gw)
    requests = "pool_proxy_requests_total"
    labels = {"status": "200", "model": "gpt-4o-mini", "client": "alice"}
    assert value(samples, requests, route="responses", **labels) == 2
    assert value(samples, requests, route="chat", **labels) == 1
    status, usage = await gw.admin("GET", "/admin/usage?group_by=client")
    alice = next(row for row in usage["data"] if row["client"] == "alice")
    assert status == 200
    assert (alice["requests"], alice["prompt_tokens"], alice["completion_tokens"]) == (3, 33, 21)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_context_length_error_passes_through_and_costs_no_health(
    upstream, start_gateway, stream
):
    message = "This model's maximum context length is 128000 tokens."
    upstream.default = error_step(400, "context_length_exceeded", message)
    gw = await start_gateway(base_config(upstream, accounts=1))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().responses.create(model="gpt-4o-mini", input="a very long prompt", stream=stream)
    assert caught.value.code == "context_length_exceeded"
    assert message in caught.value.message
    assert (await gw.account("acct-1"))["state"] == "active"
