"""What the Open WebUI scripts share: a scripted fake Monica, the real gateway, a real Open WebUI
and a real headless Chromium that types into its chat box (not part of `make test`).

The fake Monica is the tests' (tests/fakes/monica.py: Monica's true wire format and its
checks); here its answers come from a small "model" function that reads what it was sent,
because Open WebUI decides how many requests a chat makes (tool rounds, titles, tags,
follow-ups). The gateway runs in this process on loopback, Open WebUI as a subprocess with a
private DATA_DIR, and Debian's Chromium through Playwright (as the dashboard tests drive it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the tests' fakes are reused, not copied

from proxy.app import create_app  # noqa: E402
from proxy.config import parse_config  # noqa: E402
from proxy.providers.monica.body import PREAMBLE_CLOSE  # noqa: E402
from proxy.tools.prompt import RESULT_CLOSE, RESULT_OPEN  # noqa: E402
from tests.fakes.monica import FakeMonica, SeenChat, Step  # noqa: E402
from tests.processes import free_port  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's: browser downloads fail here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OWUI = ROOT / ".openwebui"
KEY = "sk-open-webui-0123456789"
ADMIN = "admin-open-webui-0123456789"
MODEL = "gpt-4o"
TASK = "### Task:"  # how Open WebUI's background prompts (title, tags, follow-ups) begin
TOOLS_REF = "$tools"  # stands for the run's tool list in a saved fixture

Reply = Callable[[SeenChat], str]


class ModelMonica(FakeMonica):
    """The tests' fake Monica, answering each chat with what `reply` makes of the request."""

    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.reply = reply

    def next_step(self, session: str) -> Step:
        return Step(text=self.reply(self.seen[-1]))  # the request being answered


CLOCK = "get_current_timestamp"  # one of Open WebUI's built-in tools, offered by default
CALL = f'Let me check the clock.\n<tool_call>{{"name": "{CLOCK}", "arguments": {{}}}}</tool_call>'


def said(question: str) -> str:
    """A question's own text, without the system preamble the gateway folds into the first."""
    return question.rsplit(PREAMBLE_CLOSE, 1)[-1].strip()


def offered(seen: SeenChat, tool: str) -> bool:
    """Whether the system text the gateway sent lists `tool` (one JSON line per tool)."""
    return f'{{"name":"{tool}"' in seen.questions[0].split(PREAMBLE_CLOSE, 1)[0]


def task_answer(question: str) -> str | None:
    """A JSON answer to one of Open WebUI's background tasks, or None for a chat turn."""
    if TASK not in question:
        return None
    if '"title"' in question:
        return '{"title": "Pool proxy check"}'
    if '"tags"' in question:
        return '{"tags": ["Technology"]}'
    if '"follow_ups"' in question:
        return '{"follow_ups": ["And tomorrow?", "Thanks"]}'
    return "{}"


def clock_model(seen: SeenChat) -> str:
    """A model that calls the clock tool when asked the time (and the tool is offered),
    answers from the tool's result when it comes back, and otherwise acknowledges the turn."""
    question = said(seen.questions[-1])
    task = task_answer(question)
    if task is not None:
        return task
    if question.startswith(RESULT_OPEN):
        result = json.loads(question[len(RESULT_OPEN) : question.index(RESULT_CLOSE)])
        content = result["content"]
        with contextlib.suppress(ValueError, TypeError, KeyError):
            content = json.loads(content)["current_iso"]
        return f"The clock tool says it is {content}."
    if "time" in question.lower() and offered(seen, CLOCK):
        return CALL
    return f"Noted: {question}"


@dataclass
class Seen:
    """One request that reached the gateway: its body and the account that served it."""

    path: str
    body: dict[str, Any]
    account: str | None
    status: int
    tools: str | None  # x-pool-proxy-tools: emulated

    @property
    def task(self) -> bool:
        """One of Open WebUI's background calls (title, tags, follow-ups), not a chat turn."""
        return TASK in str(self.body["messages"][-1].get("content"))


@dataclass
class Gateway:
    url: str
    seen: list[Seen] = field(default_factory=list)


@contextlib.asynccontextmanager
async def gateway(
    monica: FakeMonica, accounts: int, pool: dict[str, Any], work: Path
) -> AsyncIterator[Gateway]:
    """The fake Monica and the real gateway with `accounts` Monica accounts on it."""
    runner = web.AppRunner(monica.app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    monica.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    config = parse_config(
        {
            "admin_key": ADMIN,
            "clients": [{"name": "open-webui", "key": KEY}],
            "accounts": [
                {
                    "id": f"monica-{n}",
                    "provider": "monica",
                    "cookie": f"session_id=sess-{n}",
                    "base_url": monica.url,
                    "models": [MODEL],
                }
                for n in range(1, accounts + 1)
            ],
            "pool": pool,
            "state": {"path": str(work / "state.json")},
            "logging": {"level": "warning"},
        }
    )
    app = create_app(config)
    gw = Gateway("")

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        response: web.StreamResponse = await handler(request)
        if request.path.startswith("/v1/chat"):
            body = json.loads(raw) if raw else {}
            headers = response.headers
            seen = Seen(
                request.path,
                body,
                headers.get("x-pool-proxy-account"),
                response.status,
                headers.get("x-pool-proxy-tools"),
            )
            gw.seen.append(seen)
        return response

    app.middlewares.insert(0, record)
    gw_runner = web.AppRunner(app, access_log=None)
    await gw_runner.setup()
    await web.TCPSite(gw_runner, "127.0.0.1", 0).start()
    gw.url = f"http://127.0.0.1:{gw_runner.addresses[0][1]}"
    try:
        yield gw
    finally:
        await gw_runner.cleanup()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def open_webui(gateway_url: str, work: Path) -> AsyncIterator[str]:
    """A real Open WebUI (`open-webui serve`) on the gateway, with a private DATA_DIR, no
    login, nothing fetched from outside; yields its URL once it answers /health."""
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(work / "data"),
        "WEBUI_SECRET_KEY": "pool-proxy-open-webui-check",
        "WEBUI_AUTH": "False",
        "ENABLE_OLLAMA_API": "False",
        "OPENAI_API_BASE_URL": f"{gateway_url}/v1",
        "OPENAI_API_KEY": KEY,
        "DEFAULT_MODELS": MODEL,
        "ANONYMIZED_TELEMETRY": "False",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
        "OFFLINE_MODE": "True",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_VERSION_UPDATE_CHECK": "False",
        "RAG_EMBEDDING_ENGINE": "openai",  # no local embedding model to load (none is used here)
    }
    log = (work / "open-webui.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        str(OWUI / "venv" / "bin" / "open-webui"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url, proc)
        yield url
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.close()


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process, timeout: float = 180) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if proc.returncode is not None:
                raise SystemExit(f"open-webui exited with {proc.returncode}; see its log")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/health") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.5)
    raise SystemExit(f"open-webui did not answer /health in {timeout:.0f}s")


# The id of the last assistant message on the page (each message's element is message-<uuid>).
# The page keeps only the latest messages in the DOM, so a turn waits for a new last answer.
LAST_ANSWER = """window.lastAnswerId = () => {
  const answers = document.querySelectorAll('.chat-assistant');
  return answers.length ? answers[answers.length - 1].closest('[id^="message-"]').id : null;
};"""


async def browse(url: str, prompts: list[str], shots: Path) -> list[dict[str, Any]]:
    """Type each prompt into Open WebUI's chat box in headless Chromium, press Enter, wait until
    the answer is finished (its Copy button appears only then); what each turn showed, as
    rendered. A screenshot of each finished turn goes to `shots`."""
    from playwright.async_api import TimeoutError as PageTimeout
    from playwright.async_api import async_playwright

    turns: list[dict[str, Any]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(90_000)  # a deadline for a busy machine, not a pace
            await page.add_init_script(LAST_ANSWER)
            await page.goto(url)
            box = page.locator("#chat-input")
            await box.wait_for()
            with contextlib.suppress(PageTimeout):  # a fresh install greets with its release notes
                await page.get_by_role("button", name="Okay, Let's Go!").click(timeout=5_000)
            for n, prompt in enumerate(prompts, 1):
                before = await page.evaluate("lastAnswerId()")
                await box.click()
                await page.keyboard.type(prompt)
                await page.keyboard.press("Enter")
                await page.wait_for_function("before => lastAnswerId() !== before", arg=before)
                message = page.locator(f'[id="{await page.evaluate("lastAnswerId()")}"]')
                await message.locator("button.copy-response-button").wait_for()
                shown = await message.inner_text()
                await page.screenshot(path=shots / f"turn-{n:02}.png")
                turns.append({"turn": n, "prompt": prompt, "shown": shown, "url": page.url})
        finally:
            await browser.close()
    return turns


def kind(seen: Seen) -> str:
    """What Open WebUI meant by a request: a chat turn, or which background task."""
    if not seen.task:
        return "chat"
    text = str(seen.body["messages"][-1].get("content"))
    return next((name for name in ("title", "tags", "follow_ups") if f'"{name}"' in text), "task")


def print_seen(gw: Gateway) -> None:
    for n, seen in enumerate(gw.seen, 1):
        body = seen.body
        roles = ",".join(str(m.get("role")) for m in body["messages"])
        extra = {k: body[k] for k in ("stream", "max_tokens", "tool_choice") if k in body}
        tools = len(body.get("tools") or [])
        print(
            f"{n:2} {kind(seen):10} -> {seen.status} on {seen.account}"
            f" tools={tools} {seen.tools or ''} messages=[{roles}] {json.dumps(extra)}"
        )


def save_bodies(gw: Gateway, path: Path) -> None:
    """The request bodies as Open WebUI sent them, in order, as a test fixture (they hold no
    secret); the tool list, the same in every chat turn, is stored once."""
    tools = next((s.body["tools"] for s in gw.seen if s.body.get("tools")), [])
    requests = []
    for seen in gw.seen:
        body = dict(seen.body)
        if "tools" in body:
            assert body["tools"] == tools, "Open WebUI offered different tools in one run"
            body["tools"] = TOOLS_REF
        requests.append({"kind": kind(seen), "body": body})
    fixture = {"open_webui": owui_version(), "tools_ref": TOOLS_REF, "tools": tools, "requests": requests}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options both checks take."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, screenshots)")
    parser.add_argument(
        "--save", type=Path, help="write the request bodies Open WebUI sent to this JSON file"
    )
    return parser


def report(checks: dict[str, bool], problems: list[Any]) -> int:
    """Print the checks; the exit status."""
    print("\n== checks")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    if problems:
        print(problems)
    return 0 if all(checks.values()) else 1


def owui_version() -> str:
    site = next((OWUI / "venv" / "lib").glob("python*/site-packages"))
    return (
        next(site.glob("open_webui-*.dist-info")).name.removeprefix("open_webui-").removesuffix(".dist-info")
    )


def versions() -> str:
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    return f"open-webui {owui_version()}; {chromium}; playwright {version('playwright')}"


@contextlib.asynccontextmanager
async def workdir(prefix: str, keep: bool) -> AsyncIterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
