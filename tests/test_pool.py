"""The account pool through the real gateway: outcomes, failover, rests, limits (issue 3)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import openai
import orjson
import pytest

from proxy.clock import FakeClock
from tests.conftest import ADMIN, ALICE, HUNG_AFTER, CountingClock, base_config, chat, until
from tests.fakes.openai_upstream import Step, error_step

KEY = {i: f"sk-upstream-{i}-secretvalue" for i in range(1, 4)}


async def states(gw) -> dict[str, str]:
    _, body = await gw.admin("GET", "/admin/accounts")
    return {a["id"]: a["state"] for a in body["data"]}


async def test_rate_limited_account_rests_for_retry_after(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", **{"Retry-After": "30"}))
    gw = await start_gateway(base_config(upstream))
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content  # the client saw no error
    account = await gw.account("acct-1")
    assert account["state"] == "cooling" and account["seconds_left"] == pytest.approx(30)
    assert "429" in account["reason"]
    for _ in range(4):
        await gw.client().chat.completions.create(**chat())
    assert upstream.keys_seen().count(KEY[1]) == 1  # skipped while resting
    gw.clock.advance(31)
    for _ in range(3):
        await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "active"


@pytest.mark.parametrize(
    ("headers", "rest"),
    [({}, 60), ({"x-ratelimit-reset-requests": "6m0s"}, 360), ({"Retry-After": "2"}, 2)],
)
async def test_rest_length_follows_upstream_hints_else_cooldown(upstream, start_gateway, headers, rest):
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", **headers))
    gw = await start_gateway(base_config(upstream))
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["seconds_left"] == pytest.approx(rest)


async def test_failed_probe_doubles_the_rest_up_to_cooldown_max(upstream, start_gateway):
    upstream.script(KEY[1], *[error_step(429, "rate_limit_exceeded")] * 4)
    pool = {"cooldown": "10s", "cooldown_max": "30s"}
    gw = await start_gateway(base_config(upstream, accounts=1, pool=pool))
    rests = []
    for _ in range(4):
        with pytest.raises(openai.APIStatusError) as info:
            await gw.client().chat.completions.create(**chat())
        assert info.value.status_code == 503
        account = await gw.account("acct-1")
        rests.append(round(account["seconds_left"]))
        gw.clock.advance(account["seconds_left"])  # the rest ends: the next request probes
    assert rests == [10, 20, 30, 30]
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "active"


@pytest.mark.parametrize(
    "step",
    [
        error_step(429, "insufficient_quota", "You exceeded your current quota"),
        error_step(403, "insufficient_quota"),
        error_step(402, None, "Payment required"),
    ],
)
async def test_quota_exhausted_account_rests_for_exhausted_for(upstream, start_gateway, step):
    upstream.script(KEY[1], step)
    gw = await start_gateway(base_config(upstream))
    await gw.client().chat.completions.create(**chat())
    account = await gw.account("acct-1")
    assert account["state"] == "exhausted"
    assert account["seconds_left"] == pytest.approx(86400)


@pytest.mark.parametrize(
    "step",
    [
        error_step(401, "invalid_api_key", "Incorrect API key provided"),
        error_step(429, None, "Your access was terminated due to violation of our policies"),
    ],
)
async def test_rejected_credential_quarantines_the_account(upstream, start_gateway, step):
    upstream.script(KEY[1], step)
    gw = await start_gateway(base_config(upstream))
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "invalid"
    gw.clock.advance(10 * 86400)  # time alone does not bring it back
    for _ in range(4):
        await gw.client().chat.completions.create(**chat())
    assert upstream.keys_seen().count(KEY[1]) == 1
    status, body = await gw.admin("POST", "/admin/accounts/acct-1/reset")
    assert status == 200 and body["state"] == "active"


async def test_transient_failures_rest_the_account_at_the_threshold(upstream, start_gateway):
    upstream.script(KEY[1], *[error_step(500, "server_error")] * 3)
    gw = await start_gateway(base_config(upstream, accounts=2, pool={"failure_threshold": 3}))
    for expected_failures in (1, 2):
        await gw.client().chat.completions.create(**chat())
        await gw.client().chat.completions.create(**chat())
        account = await gw.account("acct-1")
        assert (account["state"], account["failures"]) == ("active", expected_failures)
    await gw.client().chat.completions.create(**chat())
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "cooling"


async def test_success_resets_the_failure_count(upstream, start_gateway):
    upstream.script(KEY[1], error_step(502, None), Step())
    gw = await start_gateway(base_config(upstream, accounts=1, pool={"max_attempts": 1}))
    with pytest.raises(openai.APIStatusError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.status_code == 502 and info.value.code == "upstream_error"
    assert (await gw.account("acct-1"))["failures"] == 1
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["failures"] == 0


@pytest.mark.parametrize("kind", ["malformed", "empty"])
async def test_broken_200_fails_over(upstream, start_gateway, kind):
    upstream.script(KEY[1], Step(kind))
    gw = await start_gateway(base_config(upstream))
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content == "Hello from the fake upstream!"
    assert (await gw.account("acct-1"))["failures"] == 1


async def test_empty_stream_fails_over_before_the_client_sees_anything(upstream, start_gateway):
    upstream.script(KEY[1], Step("empty"))
    gw = await start_gateway(base_config(upstream))
    stream = await gw.client().chat.completions.create(**chat(), stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "Hello from the fake upstream!"
    assert upstream.keys_seen()[:2] == [KEY[1], KEY[2]]


async def test_stream_fails_over_on_upstream_error(upstream, start_gateway):
    upstream.script(KEY[1], error_step(503, None, "overloaded"))
    gw = await start_gateway(base_config(upstream))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        assert resp.status == 200
        assert resp.headers["x-pool-proxy-account"] == "acct-2"
        assert (await resp.read()).endswith(b"data: [DONE]\n\n")


async def test_hung_upstream_times_out_and_fails_over(upstream, start_gateway):
    upstream.script(KEY[1], Step("hang"))
    # the hung account costs this long; the one that answers must never be cut by it
    gw = await start_gateway(base_config(upstream, pool={"first_byte_timeout": HUNG_AFTER}))
    stream = await gw.client().chat.completions.create(**chat(), stream=True)
    assert (
        "".join([c.choices[0].delta.content or "" async for c in stream]) == "Hello from the fake upstream!"
    )
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content


async def test_last_attempt_timing_out_is_504(upstream, start_gateway):
    upstream.default = Step("hang")
    gw = await start_gateway(base_config(upstream, accounts=2, pool={"first_byte_timeout": "200ms"}))
    with pytest.raises(openai.APIStatusError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.status_code == 504 and info.value.code == "upstream_timeout"


async def test_max_attempts_bounds_distinct_accounts_tried(upstream, start_gateway):
    upstream.default = error_step(500, "server_error")
    gw = await start_gateway(base_config(upstream, accounts=3, pool={"max_attempts": 2}))
    with pytest.raises(openai.InternalServerError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.status_code == 502
    assert len(upstream.seen) == 2 and len(set(upstream.keys_seen())) == 2


async def test_client_error_is_returned_as_is_without_failover(upstream, start_gateway):
    upstream.script(
        KEY[1], error_step(400, "context_length_exceeded", "This model's maximum context length is 8")
    )
    gw = await start_gateway(base_config(upstream))
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.code == "context_length_exceeded"
    assert "maximum context length" in info.value.message
    assert len(upstream.seen) == 1
    account = await gw.account("acct-1")
    assert (account["state"], account["failures"]) == ("active", 0)


async def test_failure_after_first_byte_ends_stream_with_error_event(upstream, start_gateway):
    upstream.script(KEY[1], Step("reset", text="one two three four"))
    gw = await start_gateway(base_config(upstream))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        raw = await resp.read()
    events = [e for e in raw.split(b"\n\n") if e.startswith(b"data: ")]
    assert events[-1] == b"data: [DONE]"
    error = orjson.loads(events[-2][6:])["error"]
    assert error["code"] == "upstream_error" and set(error) == {"message", "type", "param", "code"}
    assert (await gw.account("acct-1"))["failures"] == 1


async def test_stalled_stream_is_cut_after_stream_idle_timeout(upstream, start_gateway):
    upstream.script(KEY[1], Step("cut", text="one two three four"))
    gw = await start_gateway(base_config(upstream, pool={"stream_idle_timeout": HUNG_AFTER}))
    async with await gw.post("/v1/chat/completions", chat(stream=True)) as resp:
        raw = await resp.read()
    assert b'"upstream_error"' in raw and raw.endswith(b"data: [DONE]\n\n")
    await until(lambda: gw.gateway.store.in_flight("acct-1") == 0)


async def test_only_one_probe_goes_out_when_a_rest_ends(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, "rate_limit_exceeded", **{"Retry-After": "10"}))
    gw = await start_gateway(base_config(upstream, accounts=2))
    await gw.client().chat.completions.create(**chat())
    assert (await gw.account("acct-1"))["state"] == "cooling"
    gw.clock.advance(11)
    answer = asyncio.Event()
    upstream.script(KEY[1], Step(hold=answer))  # the probe is out until the test lets it answer
    before = upstream.keys_seen().count(KEY[1])
    requests = [asyncio.create_task(gw.client().chat.completions.create(**chat())) for _ in range(12)]
    await until(lambda: upstream.held == 1 and sum(r.done() for r in requests) == 11)
    answer.set()
    replies = await asyncio.gather(*requests)
    assert all(r.choices[0].message.content for r in replies)
    assert upstream.keys_seen().count(KEY[1]) - before == 1
    assert (await gw.account("acct-1"))["state"] == "active"


async def test_every_account_exhausted_is_429_insufficient_quota(upstream, start_gateway):
    for i in (1, 2):
        upstream.script(KEY[i], error_step(429, "insufficient_quota"))
    gw = await start_gateway(base_config(upstream, accounts=2, pool={"exhausted_for": "1h"}))
    with pytest.raises(openai.RateLimitError) as info:
        await gw.client().chat.completions.create(**chat())
    # both exhausted on this request: the last failure explains it
    with pytest.raises(openai.RateLimitError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.code == "insufficient_quota"
    assert info.value.body["type"] == "insufficient_quota"
    assert int(info.value.response.headers["Retry-After"]) == 3600


async def test_every_account_cooling_is_503_with_retry_after(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, None, **{"Retry-After": "40"}))
    upstream.script(KEY[2], error_step(429, None, **{"Retry-After": "20"}))
    gw = await start_gateway(base_config(upstream, accounts=2))
    with pytest.raises(openai.APIStatusError):
        await gw.client().chat.completions.create(**chat())
    with pytest.raises(openai.APIStatusError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.status_code == 503 and info.value.code == "no_available_account"
    assert int(info.value.response.headers["Retry-After"]) == 20


async def test_busy_account_is_waited_for_up_to_queue_timeout(upstream, start_gateway):
    answer = asyncio.Event()
    upstream.script(KEY[1], Step(text="warm-up"), Step(hold=answer, text="first"), Step(text="second"))
    raw = base_config(upstream, accounts=1, pool={"queue_timeout": "60s"})
    raw["accounts"][0]["max_concurrency"] = 1
    clock = CountingClock()
    gw = await start_gateway(raw, clock)
    before = clock.reads
    await gw.client().chat.completions.create(**chat())
    one_request = clock.reads - before
    first = asyncio.create_task(gw.client().chat.completions.create(**chat()))
    await until(lambda: upstream.held == 1)
    mark = clock.reads
    second = asyncio.create_task(gw.client().chat.completions.create(**chat()))
    # acct-1 is busy: the second request looks again and again (reading the clock) and waits
    await until(lambda: clock.reads > mark + one_request + 2, timeout=30)
    assert not second.done() and len(upstream.seen) == 2
    answer.set()  # the first finishes and frees the account: the waiting request runs
    assert (await second).choices[0].message.content == "second"
    assert (await first).choices[0].message.content == "first"


async def test_busy_past_queue_timeout_is_503(upstream, start_gateway):
    answer = asyncio.Event()
    upstream.default = Step(hold=answer, text="a b c")  # busy until the test says otherwise
    raw = base_config(upstream, accounts=1, pool={"queue_timeout": "100ms"})
    raw["accounts"][0]["max_concurrency"] = 1
    gw = await start_gateway(raw)
    first = asyncio.create_task(gw.client().chat.completions.create(**chat()))
    await until(lambda: upstream.held == 1)
    with pytest.raises(openai.APIStatusError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.status_code == 503 and int(info.value.response.headers["Retry-After"]) >= 1
    answer.set()
    assert (await first).choices[0].message.content == "a b c"
    assert len(upstream.seen) == 1


async def test_client_bucket_admits_exactly_burst_of_concurrent_requests(upstream, start_gateway):
    raw = base_config(upstream)
    raw["clients"][0]["rate_limit"] = {"rps": 1, "burst": 10}
    gw = await start_gateway(raw)

    async def one() -> int:
        async with await gw.post("/v1/chat/completions", chat()) as resp:
            await resp.read()
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
                assert resp.headers["x-ratelimit-remaining-requests"] == "0"
                assert (await resp.json())["error"]["code"] == "rate_limit_exceeded"
            return resp.status

    statuses = Counter(await asyncio.gather(*(one() for _ in range(50))))
    assert statuses == {200: 10, 429: 40}
    gw.clock.advance(1)
    async with await gw.post("/v1/chat/completions", chat()) as resp:
        assert resp.status == 200
        assert resp.headers["x-ratelimit-limit-requests"] == "10"
        assert resp.headers["x-ratelimit-remaining-requests"] == "0"
        assert resp.headers["x-ratelimit-reset-requests"] == "10s"


async def test_sdk_sees_rate_limit_error_from_client_bucket(upstream, start_gateway):
    raw = base_config(upstream)
    raw["clients"][0]["rate_limit"] = {"rpm": 1}
    gw = await start_gateway(raw)
    await gw.client().chat.completions.create(**chat())
    with pytest.raises(openai.RateLimitError) as info:
        await gw.client().chat.completions.create(**chat())
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["Retry-After"] == "60"


async def test_account_without_tokens_is_skipped_not_waited_on(upstream, start_gateway):
    raw = base_config(upstream, accounts=2)
    raw["accounts"][0]["rate_limit"] = {"rpm": 1}
    gw = await start_gateway(raw)
    for _ in range(5):
        await gw.client().chat.completions.create(**chat())
    assert Counter(upstream.keys_seen()) == {KEY[1]: 1, KEY[2]: 4}


async def test_all_accounts_limited_waits_for_the_earliest_token(upstream, start_gateway):
    raw = base_config(upstream, accounts=1, pool={"queue_timeout": "60s"})
    raw["accounts"][0]["rate_limit"] = {"rps": 10, "burst": 1}  # the next token 100 ms away
    clock = CountingClock()
    gw = await start_gateway(raw, clock)
    before = clock.reads
    await gw.client().chat.completions.create(**chat())  # takes the only token
    one_request = clock.reads - before
    waiting = asyncio.create_task(gw.client().chat.completions.create(**chat()))
    # The fake clock stands still, so the token never comes: the request keeps looking
    # again (reading the clock) instead of failing or going upstream.
    mark = clock.reads
    await until(lambda: clock.reads > mark + one_request + 3, timeout=30)
    assert not waiting.done() and len(upstream.seen) == 1
    gw.clock.advance(0.5)  # the token comes, well within queue_timeout
    reply = await waiting
    assert reply.choices[0].message.content and len(upstream.seen) == 2


async def test_weights_shape_round_robin(upstream, start_gateway):
    raw = base_config(upstream, accounts=2)
    raw["accounts"][0]["weight"] = 3
    gw = await start_gateway(raw)
    for _ in range(8):
        await gw.client().chat.completions.create(**chat())
    assert Counter(upstream.keys_seen()) == {KEY[1]: 6, KEY[2]: 2}


async def test_least_busy_prefers_the_idle_account(upstream, start_gateway):
    answer = asyncio.Event()
    upstream.script(KEY[1], Step(hold=answer, text="x y"))  # acct-1 stays busy until released
    gw = await start_gateway(base_config(upstream, accounts=2, pool={"strategy": "least_busy"}))
    busy = asyncio.create_task(gw.client().chat.completions.create(**chat()))
    await until(lambda: upstream.held == 1)
    for _ in range(3):
        await gw.client().chat.completions.create(**chat())
    assert upstream.keys_seen() == [KEY[1], KEY[2], KEY[2], KEY[2]]
    answer.set()
    assert (await busy).choices[0].message.content == "x y"


async def test_exhausted_account_is_still_resting_after_restart(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, "insufficient_quota"))
    gw = await start_gateway(base_config(upstream))
    await gw.client().chat.completions.create(**chat())
    await gw.runner.cleanup()  # shutdown writes the snapshot
    again = await start_gateway(base_config(upstream), clock=gw.clock)
    account = await again.account("acct-1")
    assert account["state"] == "exhausted" and account["seconds_left"] == pytest.approx(86400)


async def test_corrupt_snapshot_starts_clean(upstream, start_gateway, tmp_path, caplog):
    (tmp_path / "state.json").write_text("{not json")
    gw = await start_gateway(base_config(upstream))
    assert set((await states(gw)).values()) == {"active"}
    assert "state snapshot unreadable" in caplog.text
    await gw.client().chat.completions.create(**chat())


async def test_a_snapshot_from_an_older_version_keeps_its_usage_and_counts_on(
    upstream, start_gateway, tmp_path
):
    day = time.strftime("%Y-%m-%d", time.gmtime())
    old_row = {"requests": 5, "failures": 0, "prompt_tokens": 50, "completion_tokens": 7, "estimated": 0}
    old = {"version": 1, "accounts": {}, "usage": {day: {"client": {"alice": old_row}}}}  # no usd_nanos
    (tmp_path / "state.json").write_text(orjson.dumps(old).decode())
    gw = await start_gateway(base_config(upstream), clock=FakeClock(time.time()))
    await gw.client().chat.completions.create(**chat())
    await gw.runner.cleanup()  # shutdown folds the tallies into the old rows and writes the snapshot
    saved = orjson.loads((tmp_path / "state.json").read_bytes())
    assert saved["usage"][day]["client"]["alice"]["requests"] == 6


async def test_admin_routes_need_the_admin_key(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    async with gw.http.get(f"{gw.url}/admin/accounts", headers={"Authorization": f"Bearer {ALICE}"}) as resp:
        assert resp.status == 401
    status, body = await gw.admin("GET", "/admin/accounts")
    assert status == 200
    assert "secretvalue" not in str(body)
    assert body["data"][0]["credential"] == "sk-u…ue"
    status, body = await gw.admin("POST", "/admin/accounts/nope/disable")
    assert status == 404


async def test_without_admin_key_admin_routes_are_404(upstream, start_gateway):
    raw = base_config(upstream)
    del raw["admin_key"]
    gw = await start_gateway(raw)
    async with gw.http.get(f"{gw.url}/admin/accounts", headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
        assert resp.status == 404


async def test_disabled_account_gets_no_traffic_until_enabled(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream, accounts=2))
    _, body = await gw.admin("POST", "/admin/accounts/acct-1/disable")
    assert body["state"] == "disabled"
    for _ in range(3):
        await gw.client().chat.completions.create(**chat())
    assert KEY[1] not in upstream.keys_seen()
    await gw.admin("POST", "/admin/accounts/acct-1/enable")
    for _ in range(2):
        await gw.client().chat.completions.create(**chat())
    assert KEY[1] in upstream.keys_seen()


async def test_when_every_account_fails_the_answer_says_when_to_retry(upstream, start_gateway):
    upstream.script(KEY[1], error_step(429, "insufficient_quota"))
    upstream.script(KEY[2], error_step(429, "rate_limit_exceeded", **{"Retry-After": "30"}))
    upstream.script(KEY[3], error_step(401, "invalid_api_key"))
    gw = await start_gateway(base_config(upstream, accounts=3))
    with pytest.raises(openai.APIStatusError) as info:
        await gw.client().chat.completions.create(**chat())
    # not the last upstream error (a 401): one account rests for 30 s, so come back then
    assert info.value.status_code == 503 and info.value.code == "no_available_account"
    assert info.value.response.headers["Retry-After"] == "30"


async def test_a_pool_of_disabled_and_invalid_accounts_tells_clients_not_to_wait(upstream, start_gateway):
    upstream.script(KEY[2], error_step(401, "invalid_api_key"))
    gw = await start_gateway(base_config(upstream, accounts=2))
    await gw.admin("POST", "/admin/accounts/acct-1/disable")
    client = gw.client().with_options(max_retries=0)  # acct-2 answers 401 and turns invalid
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(**chat())
    assert info.value.status_code == 503 and info.value.code == "no_available_account"
    assert "disabled or invalid" in info.value.message
    assert "Retry-After" not in info.value.response.headers  # an SDK would wait for nothing
