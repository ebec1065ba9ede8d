"""`POST /v1/embeddings` end to end: the real `openai` SDK, the real gateway, `openai`
accounts on the fake upstream (which answers floats whatever encoding was asked)."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import base_config
from tests.fakes.openai_upstream import embedding_of, error_step

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in (1, 2, 3)}
MODEL = "text-embedding-3-small"


def embedding_config(upstream, accounts=2, **sections):
    raw = base_config(upstream, accounts=accounts, **sections)
    for account in raw["accounts"]:
        account["models"] = [*account["models"], MODEL]
    return raw


async def test_the_sdk_default_base64_decodes_to_the_upstreams_floats(upstream, start_gateway):
    gw = await start_gateway(embedding_config(upstream))
    result = await gw.client().embeddings.create(model=MODEL, input=["alpha", "beta"])
    assert [d.embedding for d in result.data] == [embedding_of(0, 4), embedding_of(1, 4)]
    assert [d.index for d in result.data] == [0, 1]
    assert upstream.seen[0].body["encoding_format"] == "base64"  # the SDK's own default, forwarded
    assert result.usage.prompt_tokens == 6


async def test_floats_asked_are_floats(upstream, start_gateway):
    gw = await start_gateway(embedding_config(upstream))
    result = await gw.client().embeddings.create(
        model=MODEL, input="alpha", encoding_format="float", dimensions=3
    )
    assert result.data[0].embedding == embedding_of(0, 3)
    assert upstream.seen[0].body == {
        "model": MODEL,
        "input": "alpha",
        "encoding_format": "float",
        "dimensions": 3,
    }


async def test_a_raw_client_that_sends_no_encoding_gets_floats_and_none_is_added(upstream, start_gateway):
    gw = await start_gateway(embedding_config(upstream))
    resp = await gw.post("/v1/embeddings", {"model": MODEL, "input": [[1, 2, 3]]})
    assert resp.status == 200
    body = await resp.json()
    assert body["data"][0]["embedding"] == embedding_of(0, 4)
    assert "encoding_format" not in upstream.seen[0].body


async def test_a_rate_limited_account_fails_over(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", **{"Retry-After": "30"}))
    gw = await start_gateway(embedding_config(upstream))
    result = await gw.client().embeddings.create(model=MODEL, input="alpha")
    assert result.data[0].embedding == embedding_of(0, 4)
    assert upstream.keys_seen() == [KEY[1], KEY[2]]
    assert (await gw.account("acct-1"))["state"] == "cooling"


async def test_usage_is_counted_for_the_client(upstream, start_gateway):
    gw = await start_gateway(embedding_config(upstream))
    await gw.client().embeddings.create(model=MODEL, input=["a", "b", "c"])
    status, usage = await gw.admin("GET", "/admin/usage?group_by=client")
    assert status == 200
    alice = next(row for row in usage["data"] if row["client"] == "alice")
    assert (alice["requests"], alice["prompt_tokens"], alice["estimated"]) == (1, 9, 0)
    status, usage = await gw.admin("GET", "/admin/usage?group_by=model")
    assert [row["model"] for row in usage["data"]] == [MODEL]


async def test_a_model_only_cookie_accounts_serve_is_404(monica, upstream, start_gateway):
    raw = embedding_config(upstream, accounts=1)
    raw["accounts"].append(
        {"id": "monica-1", "provider": "monica", "cookie": "sess-a", "base_url": monica.url}
    )
    gw = await start_gateway(raw)
    with pytest.raises(openai.NotFoundError) as caught:
        await gw.client().embeddings.create(model="claude-sonnet-4-5", input="alpha")
    assert caught.value.code == "model_not_found"
    assert monica.seen == [] and upstream.seen == []


async def test_bad_input_is_400_naming_the_field(upstream, start_gateway):
    gw = await start_gateway(embedding_config(upstream))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().embeddings.create(model=MODEL, input=["ok", ""])
    assert caught.value.param == "input[1]"
    assert upstream.seen == []


async def test_a_client_over_its_bucket_gets_openais_429(upstream, start_gateway):
    raw = embedding_config(upstream)
    raw["clients"][0]["rate_limit"] = {"rpm": 1, "burst": 1}
    gw = await start_gateway(raw)
    client = gw.client()
    await client.embeddings.create(model=MODEL, input="alpha")
    with pytest.raises(openai.RateLimitError) as caught:
        await client.embeddings.create(model=MODEL, input="beta")
    assert caught.value.code == "rate_limit_exceeded"
    assert len(upstream.seen) == 1
