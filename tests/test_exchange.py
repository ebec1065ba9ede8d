"""Every door's request goes through one exchange: request id, overhead, metrics, usage.

Images used to have a drifted copy of the chat handler's bookkeeping (no metrics, no
overhead header, usage only on success); these hold both routes to the same record.
"""

from __future__ import annotations

import gc

import openai
import pytest
from aiohttp import web

from proxy.http.exchange import Exchange
from tests.conftest import ADMIN, Running, base_config, chat
from tests.fakes.monica import FakeMonica
from tests.test_metrics import scrape, value
from tests.test_monica import monica_config
from tests.test_usage import rows, usage


def monica_with_metrics(monica: FakeMonica, *sessions: str) -> dict[str, object]:
    config = monica_config(monica, *sessions)
    config["metrics"] = {"enabled": True}
    return config


async def images_usage(gw: Running) -> dict[str, object]:
    return rows(await usage(gw, group_by="model"))["dall-e-3"]


async def test_images_are_counted_in_metrics_and_usage_and_carry_the_overhead(monica, start_gateway):
    gw = await start_gateway(monica_with_metrics(monica, "sess-a"))
    async with await gw.post("/v1/images/generations", {"prompt": "a red fox"}) as resp:
        assert resp.status == 200, await resp.text()
        assert float(resp.headers["x-pool-proxy-overhead-ms"]) >= 0
        assert resp.headers["x-pool-proxy-account"] == "monica-1"
        assert len((await resp.json())["data"]) == 1

    m = await scrape(gw, ADMIN)
    labels = {"route": "images", "status": "200", "model": "other", "client": "alice"}
    assert value(m, "pool_proxy_requests_total", **labels) == 1
    assert value(m, "pool_proxy_request_seconds_count", route="images") == 1
    assert value(m, "pool_proxy_overhead_seconds_count", route="images") == 1
    assert (
        value(
            m, "pool_proxy_requests_total", route="chat", **{k: v for k, v in labels.items() if k != "route"}
        )
        == 0
    )
    drawn = await images_usage(gw)
    assert drawn["requests"] == 1 and drawn["failures"] == 0


async def test_a_failed_image_request_is_counted_too(monica, start_gateway):
    monica.api_failures["sess-a"] = 403  # the only account is logged out
    gw = await start_gateway(monica_with_metrics(monica, "sess-a"))
    with pytest.raises(openai.APIStatusError) as caught:
        await gw.client().images.generate(prompt="a cat")
    assert caught.value.status_code >= 500
    assert float(caught.value.response.headers["x-pool-proxy-overhead-ms"]) >= 0

    m = await scrape(gw, ADMIN)
    status = str(caught.value.status_code)
    assert (
        value(m, "pool_proxy_requests_total", route="images", status=status, model="other", client="alice")
        == 1
    )
    drawn = await images_usage(gw)
    assert drawn["requests"] == 1 and drawn["failures"] == 1


async def test_request_id_is_echoed_on_an_answer_and_on_a_stream(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    async with await gw.post("/v1/chat/completions", chat(), headers={"X-Request-ID": "plain-7"}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] == "plain-7"
    body = chat(stream=True)
    async with await gw.post("/v1/chat/completions", body, headers={"X-Request-ID": "stream-8"}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] == "stream-8"
        assert (await resp.read()).endswith(b"data: [DONE]\n\n")


async def test_every_chunk_of_a_built_stream_shares_one_id_and_created(monica, start_gateway):
    gw = await start_gateway(monica_config(monica, "sess-a"))
    stream = await gw.client().chat.completions.create(
        **chat(model="gpt-4o", text="count to five"), stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert len(chunks) >= 4  # role, content…, finish, usage
    assert len({c.created for c in chunks}) == 1
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


async def test_requests_leave_no_reference_cycles_behind(upstream, start_gateway):
    """A cycle per request leaves each request's objects to the garbage collector instead of
    freeing them at once: a third more CPU per streamed request in the bench."""
    gw = await start_gateway(base_config(upstream, accounts=1))

    async def one(stream: bool) -> None:
        async with await gw.post("/v1/chat/completions", chat(stream=stream)) as resp:
            assert resp.status == 200
            await resp.read()

    await one(False)
    await one(True)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for stream in (False, True, False, True):
            await one(stream)
        gc.collect()
        kept = [o for o in gc.garbage if isinstance(o, web.BaseRequest | web.StreamResponse | Exchange)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kept == []
