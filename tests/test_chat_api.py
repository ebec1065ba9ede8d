"""The OpenAI surface as the official SDK and chat UIs see it (issue 2)."""

from __future__ import annotations

import asyncio
from collections import Counter

import openai
import orjson
import pytest

from tests.conftest import ALICE, BOB, base_config, chat, until
from tests.fakes.openai_upstream import Step


async def sse_events(response) -> list[bytes]:
    raw = await response.read()
    return [e[len(b"data: ") :] for e in raw.split(b"\n\n") if e.startswith(b"data: ")]


async def test_models_list_and_get(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, model_aliases={"fast": "gpt-4o-mini"}))
    client = gw.client()
    ids = [m.id async for m in client.models.list()]
    assert ids == ["fast", "gpt-4o", "gpt-4o-mini"]
    model = await client.models.retrieve("gpt-4o")
    assert (model.id, model.object) == ("gpt-4o", "model")
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")


async def test_models_respect_the_client_allow_list(upstream, start_gateway):
    raw = base_config(upstream)
    raw["clients"][1]["models"] = ["gpt-4o"]
    gw = await start_gateway(raw)
    ids = [m.id async for m in gw.client(BOB).models.list()]
    assert ids == ["gpt-4o"]
    with pytest.raises(openai.PermissionDeniedError) as info:
        await gw.client(BOB).chat.completions.create(**chat("gpt-4o-mini"))
    assert info.value.code == "model_not_allowed"


async def test_non_streaming_answer_and_usage_are_the_upstreams(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content == "Hello from the fake upstream!"
    assert reply.system_fingerprint == "fp_fake"  # unknown fields pass through
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (11, 7)


async def test_streaming_with_include_usage_follows_openai_sequence(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    stream = await gw.client().chat.completions.create(
        **chat(), stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake upstream!"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 18
    assert len({c.id for c in chunks}) == 1


async def test_stream_ends_with_done_and_no_usage_chunk_unless_asked(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["X-Accel-Buffering"] == "no"
        events = await sse_events(resp)
    assert events[-1] == b"[DONE]"
    payloads = [orjson.loads(e) for e in events[:-1]]
    assert all(p["choices"] for p in payloads)  # the gateway asked for usage; the client did not
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"
    # the gateway still learned the usage for its accounting
    assert upstream.seen[-1].body["stream_options"] == {"include_usage": True}


async def test_sdk_stream_helper_collects_the_message(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    async with gw.client().chat.completions.stream(**chat()) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from the fake upstream!"
    assert final.choices[0].message.role == "assistant"


async def test_tool_calls_and_unknown_fields_pass_through(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    stream = await gw.client().chat.completions.create(
        **chat(), tools=tools, stream=True, extra_body={"top_k": 5, "custom_flag": {"a": 1}}
    )
    calls = [
        c.choices[0].delta.tool_calls async for c in stream if c.choices and c.choices[0].delta.tool_calls
    ]
    assert calls[0][0].id == "call_1" and calls[0][0].function.name == "lookup"
    body = upstream.seen[-1].body
    assert body["top_k"] == 5 and body["custom_flag"] == {"a": 1} and body["tools"] == tools


async def test_round_robin_spreads_requests_over_accounts(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=3))
    client = gw.client()
    for _ in range(9):
        await client.chat.completions.create(**chat())
    assert Counter(upstream.keys_seen()) == {
        "sk-upstream-1-secretvalue": 3,
        "sk-upstream-2-secretvalue": 3,
        "sk-upstream-3-secretvalue": 3,
    }


async def test_only_accounts_serving_the_model_are_used(upstream, start_gateway):
    raw = base_config(upstream, accounts=3)
    raw["accounts"][0]["models"] = ["special-model"]
    gw = await start_gateway(raw)
    for _ in range(3):
        await gw.client().chat.completions.create(**chat("special-model"))
    assert set(upstream.keys_seen()) == {"sk-upstream-1-secretvalue"}


async def test_alias_is_resolved_before_the_upstream(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, model_aliases={"gpt4": "gpt-4o"}))
    await gw.client().chat.completions.create(**chat("gpt4"))
    assert upstream.seen[-1].body["model"] == "gpt-4o"


async def test_client_key_never_reaches_the_upstream(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    await gw.client().chat.completions.create(**chat())
    sent = upstream.seen[-1].headers
    assert ALICE not in str(sent)
    assert sent["Authorization"].startswith("Bearer sk-upstream-")


async def test_missing_and_wrong_keys_are_401(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    with pytest.raises(openai.AuthenticationError) as info:
        await gw.client("sk-wrong").chat.completions.create(**chat())
    assert info.value.code == "invalid_api_key"
    async with await gw.http.get(f"{gw.url}/v1/models") as resp:
        assert resp.status == 401
        error = (await resp.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "gpt-4o-mini"}, "messages"),
        ({"model": "gpt-4o-mini", "messages": []}, "messages"),
        ({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({**chat(), "stream": "yes"}, "stream"),
        ({**chat(), "temperature": 9}, "temperature"),
        ({**chat(), "max_tokens": 0}, "max_tokens"),
        ({**chat(), "tools": {"a": 1}}, "tools"),
    ],
)
async def test_bad_fields_are_400_naming_the_param(upstream, start_gateway, body, param):
    gw = await start_gateway(base_config(upstream))
    async with await gw.post("/v1/chat/completions", body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == param and error["code"] == "invalid_request"
    assert error["type"] == "invalid_request_error"
    assert upstream.seen == []


async def test_sdk_raises_bad_request_with_our_message(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(model="gpt-4o-mini", messages=[])
    assert info.value.param == "messages"
    assert "'messages' must be a non-empty array" in info.value.message


async def test_body_that_is_not_json_is_invalid_json(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
    async with gw.http.post(f"{gw.url}/v1/chat/completions", data=b"{nope", headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_json"


async def test_unknown_model_is_404_model_not_found(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    with pytest.raises(openai.NotFoundError) as info:
        await gw.client().chat.completions.create(**chat("gpt-99"))
    assert info.value.code == "model_not_found"


async def test_body_over_max_body_is_413(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, server={"max_body": "1KB"}))
    async with await gw.post("/v1/chat/completions", chat(text="x" * 4000)) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "request_too_large"


async def test_aiohttp_404_and_405_use_the_envelope_and_request_id(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    async with gw.http.get(f"{gw.url}/v1/nothing", headers={"X-Request-ID": "req-abc"}) as resp:
        assert resp.status == 404
        assert resp.headers["X-Request-ID"] == "req-abc"
        assert (await resp.json())["error"]["code"] == "not_found"
    async with gw.http.delete(f"{gw.url}/v1/chat/completions") as resp:
        assert resp.status == 405
        assert (await resp.json())["error"]["code"] == "method_not_allowed"
        assert resp.headers["X-Request-ID"]


async def test_unexpected_exception_is_500_with_envelope_and_no_trace(upstream, start_gateway, caplog):
    gw = await start_gateway(base_config(upstream))

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom secret internals")

    gw.gateway.dispatcher.plan = boom  # type: ignore[method-assign]
    async with await gw.post("/v1/chat/completions", chat(), headers={"X-Request-ID": "r-500"}) as resp:
        assert resp.status == 500
        body = await resp.json()
    assert body["error"]["type"] == "server_error" and "r-500" in body["error"]["message"]
    assert "kaboom" not in str(body) and "Traceback" not in str(body)
    assert "kaboom" in caplog.text  # the trace is in the log


async def test_cors_preflight_and_exposed_headers(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, server={"cors_origins": ["https://chat.example"]}))
    headers = {
        "Origin": "https://chat.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with gw.http.options(f"{gw.url}/v1/chat/completions", headers=headers) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "https://chat.example"
    async with await gw.post(
        "/v1/chat/completions", chat(), headers={"Origin": "https://chat.example"}
    ) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "https://chat.example"
        assert "x-ratelimit-remaining-requests" in resp.headers["Access-Control-Expose-Headers"]
    async with await gw.post(
        "/v1/chat/completions", chat(), headers={"Origin": "https://evil.example"}
    ) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_paths_without_v1_prefix_work(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    async with await gw.post("/chat/completions", chat()) as resp:
        assert resp.status == 200


async def test_health_and_readiness(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    async with gw.http.get(f"{gw.url}/healthz") as resp:
        assert resp.status == 200
    async with gw.http.get(f"{gw.url}/readyz") as resp:
        assert resp.status == 200
    for account in ("acct-1", "acct-2", "acct-3"):
        await gw.admin("POST", f"/admin/accounts/{account}/disable")
    async with gw.http.get(f"{gw.url}/readyz") as resp:
        assert resp.status == 503


async def test_client_disconnect_mid_stream_closes_the_upstream(upstream, start_gateway):
    # the upstream sends its first word, then holds the rest until the client is gone
    upstream.default = Step(text="one two three", hold=asyncio.Event(), hold_after=1)
    gw = await start_gateway(base_config(upstream, accounts=1))
    resp = await gw.post("/v1/chat/completions", chat(stream=True))
    await resp.content.readuntil(b"\n\n")  # the first chunk arrived
    await until(lambda: upstream.held == 1)
    resp.close()
    await until(lambda: upstream.open_streams == 0 and upstream.closed_by_client == 1)
    await until(lambda: gw.gateway.store.in_flight("acct-1") == 0)


async def test_open_webui_style_request_with_many_tools_works_on_demo(start_gateway):
    gw = await start_gateway(
        {"accounts": [{"id": "demo", "provider": "demo"}], "clients": [{"name": "a", "key": ALICE}]}
    )
    tools = [
        {"type": "function", "function": {"name": f"tool_{i}", "parameters": {"type": "object"}}}
        for i in range(36)
    ]
    async with await gw.post(
        "/v1/chat/completions", chat("gpt-4o", tools=tools, tool_choice="auto", stream=True)
    ) as resp:
        assert resp.status == 200
        assert resp.headers["x-pool-proxy-tools"] == "emulated"  # the default policy
        events = await sse_events(resp)
    assert events[-1] == b"[DONE]"
    title = await gw.client().chat.completions.create(**chat("gpt-4o", text="make a title"), max_tokens=50)
    assert title.choices[0].message.content


async def test_forced_tool_choice_without_tool_capable_account_is_400_under_drop(start_gateway):
    gw = await start_gateway(
        {
            "accounts": [{"id": "demo", "provider": "demo"}],
            "clients": [{"name": "a", "key": ALICE}],
            "pool": {"unsupported_tools": "drop"},
        }
    )
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(**chat("gpt-4o"), tools=tools, tool_choice="required")
    assert info.value.param == "tool_choice"


async def test_reject_policy_turns_the_drop_into_400(start_gateway):
    raw = {
        "accounts": [{"id": "demo", "provider": "demo"}],
        "clients": [{"name": "a", "key": ALICE}],
        "pool": {"unsupported_tools": "reject"},
    }
    gw = await start_gateway(raw)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(**chat("gpt-4o"), tools=tools)
    assert info.value.param == "tools"


async def first_word(resp, word: bytes) -> None:
    """Read the stream until `word` (a content delta) arrived; the upstream holds the rest,
    so a gateway that buffers never delivers it and fails here."""
    line = b""
    async with asyncio.timeout(15):
        while b'"' + word + b'"' not in line:
            line = await resp.content.readline()
            assert line, "the stream ended early"


async def test_concurrent_streams_are_relayed_as_they_arrive(upstream, start_gateway):
    # every upstream stream sends one word, then holds the rest until the test says so
    rest = asyncio.Event()
    upstream.default = Step(text="a b c d", hold=rest, hold_after=1)
    gw = await start_gateway(base_config(upstream))
    responses = [await gw.post("/v1/chat/completions", chat(stream=True)) for _ in range(10)]
    await asyncio.gather(*(first_word(r, b"a") for r in responses))
    assert upstream.held == 10  # all ten clients have their first word; no upstream sent more
    rest.set()
    bodies = [await r.read() for r in responses]
    for resp, body in zip(responses, bodies, strict=True):
        assert body.count(b'"content":" ') == 3 and body.endswith(b"data: [DONE]\n\n")
        resp.close()


async def test_stream_is_relayed_as_it_arrives_not_buffered(upstream, start_gateway):
    rest = asyncio.Event()
    upstream.default = Step(text="first second third fourth", hold=rest, hold_after=1)
    gw = await start_gateway(base_config(upstream, accounts=1))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        await first_word(resp, b"first")  # arrives while the upstream holds the next word
        assert upstream.held == 1
        rest.set()
        rest_of_stream = await resp.read()
    assert b'" fourth"' in rest_of_stream and rest_of_stream.endswith(b"data: [DONE]\n\n")


async def test_a_stream_with_running_usage_in_every_chunk_is_still_relayed_as_it_arrives(
    upstream, start_gateway
):
    rest = asyncio.Event()
    upstream.default = Step(text="first second third", hold=rest, hold_after=1, running_usage=True)
    gw = await start_gateway(base_config(upstream, accounts=1))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        await first_word(resp, b"first")  # not held back as if the usage had closed the answer
        assert upstream.held == 1
        rest.set()
        rest_of_stream = await resp.read()
    assert b'" third"' in rest_of_stream and rest_of_stream.endswith(b"data: [DONE]\n\n")


async def test_keepalive_pings_while_the_upstream_is_silent(upstream, start_gateway, monkeypatch):
    from proxy.http import sse

    monkeypatch.setattr(sse, "PING_EVERY", 0.05)
    rest = asyncio.Event()
    upstream.default = Step(text="a b", hold=rest, hold_after=1)  # sends "a", then stays silent
    gw = await start_gateway(base_config(upstream, accounts=1))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        seen = b""
        async with asyncio.timeout(15):
            while seen.count(b": ping\n\n") < 3:  # the first ping, then aiohttp-sse's ping loop
                chunk = await resp.content.readuntil(b"\n\n")
                assert chunk, "the stream ended early"
                seen += chunk
        rest.set()
        assert (await resp.read()).rstrip().endswith(b"data: [DONE]")
    assert seen.index(b'"a"') < seen.index(b": ping")  # pings fill the upstream's silence


async def test_a_finished_stream_schedules_no_pings(upstream, start_gateway, monkeypatch):
    """A finished stream lets go of its response: no ping of it is still due (one was armed
    again when aiohttp finished the handler's response, keeping every stream for 30 s)."""
    from proxy.http import sse

    pinged: list[str] = []
    start = sse.EventStream._start_pinging

    def recorded(self: sse.EventStream) -> None:
        pinged.append(self.headers.get("x-request-id", ""))
        start(self)

    monkeypatch.setattr(sse, "PING_EVERY", 0.05)
    monkeypatch.setattr(sse.EventStream, "_start_pinging", recorded)
    gw = await start_gateway(base_config(upstream, accounts=1))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        finished = resp.headers["x-request-id"]
        assert (await resp.read()).rstrip().endswith(b"data: [DONE]")
    # a second stream, held silent until its first ping: a ping armed by the first stream
    # at its end was armed earlier, so it would be due first
    rest = asyncio.Event()
    upstream.default = Step(text="a b", hold=rest, hold_after=1)
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        held = resp.headers["x-request-id"]
        async with asyncio.timeout(15):
            await resp.content.readuntil(b": ping\n\n")
        rest.set()
        await resp.read()
    assert finished != held and finished not in pinged and held in pinged


async def test_client_giving_up_on_a_non_streaming_call_cancels_the_upstream(upstream, start_gateway):
    upstream.default = Step(hold=asyncio.Event())  # never answers
    gw = await start_gateway(base_config(upstream, accounts=1))
    request = asyncio.create_task(gw.client().chat.completions.create(**chat()))
    await until(lambda: upstream.held == 1)
    request.cancel()  # the client disconnects while the upstream is still thinking
    await until(lambda: upstream.closed_by_client == 1)
    await until(lambda: gw.gateway.store.in_flight("acct-1") == 0)
    assert (await gw.account("acct-1"))["failures"] == 0  # the account did nothing wrong
