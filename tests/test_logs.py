"""Logs: JSON lines at the configured path (rolled to dated copies) plus an errors-only file,
opt-in bodies, no secrets ever."""

from __future__ import annotations

import calendar
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.config import parse_config
from proxy.logfile import LiveLogFile
from proxy.logs import JsonFormatter, setup_logging
from tests.conftest import ADMIN, ALICE, BOB, Running, base_config, chat, until
from tests.fakes.openai_upstream import FakeOpenAI, error_step

URL_TOKEN = "url-token-0123456789abcdef"
REDIS_PASSWORD = "redis-pass-0123456789"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging() rewires the root logger; put it back as it was after the test."""
    root = logging.getLogger()
    access = logging.getLogger("aiohttp.access")
    handlers, level, access_level = list(root.handlers), root.level, access.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    access.setLevel(access_level)


def configure(raw: dict[str, Any]) -> None:
    config = parse_config(raw)
    setup_logging(config.logging, config.secrets())


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def test_log_file_gets_json_lines_and_errors_go_to_their_own_file(
    upstream, start_gateway, tmp_path, restore_logging
):
    logs = tmp_path / "logs"
    not_a_dir = tmp_path / "not-a-dir"
    not_a_dir.write_text("")
    raw = base_config(
        upstream,
        logging={"level": "info", "file": str(logs / "pool-proxy.log")},
        state={"path": str(not_a_dir / "state.json")},  # unreadable: an error line at start
    )
    configure(raw)
    gw = await start_gateway(raw)
    reply = await gw.client().chat.completions.create(**chat(), extra_headers={"X-Request-ID": "req-42"})
    assert reply.choices[0].message.content
    upstream.script("sk-upstream-2-secretvalue", error_step(429, "rate_limit_exceeded"))
    await gw.client().chat.completions.create(**chat())  # acct-2 rests: a warning

    main, errors = logs / "pool-proxy.log", logs / "pool-proxy.error.log"
    assert sorted(p.name for p in logs.iterdir()) == sorted([main.name, errors.name])
    lines = json_lines(main)
    request = next(e for e in lines if e.get("request_id") == "req-42")
    assert request["msg"] == "request" and request["level"] == "info"
    assert request["client"] == "alice" and request["model"] == "gpt-4o-mini"
    assert request["status"] == 200 and request["account"] and request["attempts"]
    assert request["prompt_tokens"] == 11 and request["completion_tokens"] == 7
    assert {"ts", "latency_ms", "overhead_ms"} <= set(request)
    assert "prompt" not in request and "answer" not in request  # bodies are opt-in
    changed = next(e for e in lines if e["msg"] == "account state changed")
    assert changed["level"] == "warning" and changed["account"] == "acct-2" and changed["to"] == "cooling"

    error_lines = json_lines(errors)
    assert error_lines, "the unreadable snapshot should have logged an error"
    assert {e["level"] for e in error_lines} == {"error"}
    assert any(e["msg"].startswith("state snapshot unreadable") for e in error_lines)
    assert len([e for e in lines if e["level"] == "error"]) == len(error_lines)


async def test_log_bodies_adds_prompt_and_answer_truncated(
    upstream, start_gateway, tmp_path, restore_logging
):
    path = tmp_path / "gw.log"
    raw = base_config(
        upstream, logging={"level": "info", "file": str(path), "log_bodies": True, "body_max": 12}
    )
    configure(raw)
    gw = await start_gateway(raw)
    await gw.client().chat.completions.create(**chat(text="tell me a long story " * 5))
    stream = await gw.client(BOB).chat.completions.create(**chat(text="short", stream=True))
    _ = [c async for c in stream]

    lines = [e for e in json_lines(path) if e["msg"] == "request"]
    plain, streamed = (next(e for e in lines if e["client"] == name) for name in ("alice", "bob"))
    assert len(plain["prompt"]) == 12 and "story" in plain["prompt"]
    assert plain["answer"] == "Hello from t"
    assert streamed["prompt"] == "short"
    assert streamed["answer"] == "Hello from t"


async def traffic_that_warns(gw: Running, upstream: FakeOpenAI) -> None:
    """Everything that tends to put a key in a log line: rejections, dead accounts, echoes."""
    echo = "Incorrect API key provided: sk-upstream-1-secretvalue"
    upstream.script("sk-upstream-1-secretvalue", error_step(401, "invalid_api_key", echo))
    upstream.script("sk-upstream-2-secretvalue", error_step(429, "rate_limit_exceeded", "slow down"))
    resp = await gw.post("/v1/chat/completions", chat(text=f"my key is {ALICE}"))
    assert resp.status == 200
    for wrong in (ADMIN, "sk-not-a-client", BOB + "x"):
        assert (await gw.post("/v1/chat/completions", chat(), key=wrong)).status == 401
    assert (await gw.post("/v1/chat/completions", chat(model="nope"), key=BOB)).status == 404
    resp = await gw.post("/v1/chat/completions", chat(stream=True), key=BOB)
    await resp.read()
    for key in (ALICE, "wrong-admin"):
        resp = await gw.http.get(f"{gw.url}/admin/accounts", headers={"Authorization": f"Bearer {key}"})
        assert resp.status == 401
    assert (await gw.admin("POST", "/admin/reload"))[0] == 400
    await until(lambda: any(s.key == "sk-upstream-1-secretvalue" for s in upstream.seen))


async def admin_views(gw: Running) -> str:
    parts = []
    for path in (
        "/admin/accounts",
        "/admin/usage?group_by=client",
        "/admin/usage?group_by=account",
        "/admin/usage?group_by=model",
        "/admin/activity",
    ):
        status, body = await gw.admin("GET", path)
        assert status == 200, body
        parts.append(orjson.dumps(body).decode())
    async with gw.http.get(f"{gw.url}/metrics") as resp:
        parts.append(await resp.text())
    async with gw.http.get(f"{gw.url}/admin") as resp:
        parts.append(await resp.text())
    return "\n".join(parts)


async def test_no_configured_secret_reaches_any_log_or_admin_answer(
    upstream, start_gateway, tmp_path, capsys, restore_logging
):
    raw = base_config(
        upstream,
        accounts=3,
        logging={"level": "debug", "format": "text", "file": str(tmp_path / "all.log"), "log_bodies": True},
        state={"redis_url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"},
    )
    # An account whose URL carries a credential of its own (some hosted gateways want that).
    raw["accounts"].append(
        {
            "id": "acct-url",
            "provider": "openai",
            "base_url": f"{upstream.base_url}?api_key={URL_TOKEN}",
            "api_key": "sk-upstream-url-secretvalue",
            "models": ["gpt-4o-mini"],
        }
    )
    config = parse_config(raw)
    secrets = config.secrets()
    assert {ALICE, BOB, ADMIN, "sk-upstream-1-secretvalue", URL_TOKEN, REDIS_PASSWORD} <= set(secrets)
    setup_logging(config.logging, secrets)
    gw = await start_gateway(raw)
    await gw.admin("POST", "/admin/accounts/acct-url/disable")  # its URL is not a real route
    await traffic_that_warns(gw, upstream)
    assert (await gw.account("acct-1"))["state"] == "invalid"
    seen = await admin_views(gw)
    logging.getLogger("pool_proxy.test").debug("debug line with %s in it", ALICE)
    try:
        raise RuntimeError(f"boom {ADMIN}")
    except RuntimeError:
        logging.getLogger("pool_proxy.test").exception("traceback", extra={"obj": ValueError(BOB)})

    captured = capsys.readouterr()
    files = "\n".join(p.read_text(encoding="utf-8") for p in tmp_path.glob("all*.log"))
    assert "account state changed" in files and "traceback" in files and "request" in captured.err
    for name, text in (("stderr", captured.err + captured.out), ("log files", files), ("admin", seen)):
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"secrets found in {name}: {[s[:6] for s in leaked]}"


DEC_1 = calendar.timegm((2026, 12, 1, 23, 59, 0))
DAY = 86_400


def record(text: str, at: float) -> logging.LogRecord:
    line = logging.LogRecord("t", logging.INFO, "", 0, text, None, None)
    line.created = at
    return line


def live_file(path: Path, max_bytes: int = 1 << 20, backups: int = 5) -> LiveLogFile:
    handler = LiveLogFile(path, max_bytes=max_bytes, backups=backups)
    handler.setFormatter(JsonFormatter())
    return handler


def messages(path: Path) -> list[str]:
    return [e["msg"] for e in json_lines(path)]


def request_ids(path: Path) -> list[str]:
    return [e["request_id"] for e in json_lines(path) if e["msg"] == "request"]


async def test_the_configured_log_path_is_the_live_log_across_a_rollover(
    upstream, start_gateway, tmp_path, restore_logging
):
    live = tmp_path / "logs" / "pool-proxy.log"
    raw = base_config(upstream, logging={"level": "info", "file": str(live)})
    configure(raw)
    gw = await start_gateway(raw)
    client = gw.client()
    await client.chat.completions.create(**chat(), extra_headers={"X-Request-ID": "before"})
    await until(lambda: request_ids(live) == ["before"])
    assert (tmp_path / "logs" / "pool-proxy.error.log").exists()

    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "baseFilename", "") == str(live)]
    handler.doRollover()  # what midnight or max_bytes would do
    await client.chat.completions.create(**chat(), extra_headers={"X-Request-ID": "after"})
    await until(lambda: request_ids(live) == ["after"])
    # the copy is named after the day it was written; a run across midnight may leave two
    copies = sorted((tmp_path / "logs").glob("pool-proxy.????-??-??.log"))
    assert copies and [rid for copy in copies for rid in request_ids(copy)] == ["before"]


def test_the_live_log_rolls_over_to_a_copy_named_after_its_day(tmp_path):
    handler = live_file(tmp_path / "gw.log")
    try:
        handler.handle(record("late on the first", DEC_1))
        handler.handle(record("early on the second", DEC_1 + 120))
        handler.handle(record("later on the second", DEC_1 + 3600))
    finally:
        handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gw.2026-12-01.log", "gw.log"]
    assert messages(tmp_path / "gw.2026-12-01.log") == ["late on the first"]
    assert messages(tmp_path / "gw.log") == ["early on the second", "later on the second"]


def test_a_log_left_by_an_earlier_day_rolls_over_to_that_day(tmp_path):
    live = tmp_path / "gw.log"
    live.write_text('{"msg": "written before a restart"}\n')
    os.utime(live, (DEC_1, DEC_1))
    handler = live_file(live)
    try:
        handler.handle(record("after the restart", DEC_1 + DAY))
    finally:
        handler.close()
    assert messages(tmp_path / "gw.2026-12-01.log") == ["written before a restart"]
    assert messages(live) == ["after the restart"]


def test_size_rollovers_are_numbered_in_order_and_only_the_newest_backups_kept(tmp_path):
    handler = live_file(tmp_path / "gw.log", max_bytes=300, backups=3)
    try:
        for i in range(40):
            handler.handle(record(f"line {i}", DEC_1 + i))  # all on 2026-12-01
    finally:
        handler.close()
    number = {
        p: int(p.name.removeprefix("gw.2026-12-01.").removesuffix(".log")) for p in tmp_path.glob("gw.*.log")
    }
    copies = sorted(number, key=number.__getitem__)
    numbers = [number[p] for p in copies]
    assert len(numbers) == 3 and numbers == list(range(numbers[0], numbers[0] + 3))
    assert numbers[0] > 1  # older copies, and the day's first (gw.2026-12-01.log), were deleted
    kept = [m for p in [*copies, tmp_path / "gw.log"] for m in messages(p)]
    assert kept == [f"line {i}" for i in range(40 - len(kept), 40)]  # contiguous, oldest first
    assert all(p.stat().st_size <= 300 for p in tmp_path.iterdir())


async def test_two_gateways_in_one_process_each_keep_their_secrets_masked(
    upstream, start_gateway, tmp_path, restore_logging
):
    log_path = tmp_path / "both.log"
    first = base_config(upstream, accounts=1, logging={"file": str(log_path)})
    first["accounts"][0]["base_url"] = f"{upstream.base_url}?api_key={URL_TOKEN}"
    second = base_config(upstream, accounts=1, admin_key="admin-of-the-second-gateway")
    second["accounts"][0]["api_key"] = "sk-upstream-of-the-second-gateway"
    configure(first)
    gw1 = await start_gateway(first)
    gw2 = await start_gateway(second)  # used to replace the first one's secrets with its own

    _, accounts = await gw1.admin("GET", "/admin/accounts")
    assert accounts["data"][0]["base_url"].startswith(upstream.base_url)
    assert URL_TOKEN not in orjson.dumps(accounts).decode()
    says = logging.getLogger("pool_proxy.test").warning
    says("both: %s %s", URL_TOKEN, "sk-upstream-of-the-second-gateway")
    await gw2.runner.cleanup()
    says("after the second stopped: %s", URL_TOKEN)

    text = log_path.read_text(encoding="utf-8")
    assert "both: " in text and "after the second stopped: " in text
    assert URL_TOKEN not in text and "sk-upstream-of-the-second-gateway" not in text


def test_a_live_log_moved_away_by_logrotate_is_started_anew_at_the_path(tmp_path):
    live = tmp_path / "gw.log"
    handler = live_file(live)
    try:
        handler.handle(record("before logrotate", DEC_1))
        live.rename(tmp_path / "gw.log.1")
        handler.handle(record("after logrotate", DEC_1 + 1))
    finally:
        handler.close()
    assert messages(tmp_path / "gw.log.1") == ["before logrotate"]
    assert messages(live) == ["after logrotate"]
