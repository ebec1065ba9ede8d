"""Claude Code through the gateway's `/v1/messages` door, end to end (not part of `make test`).

Starts a scripted chat-completions upstream and the real gateway on loopback (one
`openai` account; `claude-*` aliased to it), runs headless `claude -p` against the
gateway with a private HOME and no telemetry, and checks a two-turn run: the upstream
asks Claude Code to run a Bash command, Claude Code runs it and sends the output back,
and the upstream's final text quotes it. Prints the Claude Code version and what it
sent (paths, headers, body keys, tools, models).

    npm install --prefix /tmp/claude-code-cli @anthropic-ai/claude-code
    .venv/bin/python tools/agents/claude_code.py --claude /tmp/claude-code-cli/node_modules/.bin/claude
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from proxy.app import create_app
from proxy.config import parse_config

KEY = "sk-claude-agent-test-0123456789"
MARKER = "pool-proxy-claude-ok"
PASSED = ("MAX_THINKING_TOKENS", "CLAUDE_CODE_EFFORT_LEVEL")  # passed through to claude when set


class Upstream:
    """With tools and no tool result yet: a Bash call; otherwise a plain answer."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        results = [m for m in body["messages"] if m.get("role") == "tool"]
        names = [t["function"]["name"] for t in body.get("tools") or ()]
        if results:
            deltas = [{"content": f"The command printed: {results[-1]['content']}"}]
        elif "Bash" in names:
            arguments = json.dumps({"command": f"echo {MARKER}", "description": "Print the marker"})
            pieces = [arguments[i : i + 9] for i in range(0, len(arguments), 9)]  # split like a real model
            first = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "Bash", "arguments": ""},
            }
            deltas = [{"content": "Running it."}, {"tool_calls": [first]}]
            deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
        else:
            deltas = [{"content": "A side answer."}]
        finish = "tool_calls" if any("tool_calls" in d for d in deltas) else "stop"
        if not body.get("stream"):
            return web.json_response(_completion(body, deltas, finish))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {
            "id": "chatcmpl-agent",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
        }
        for delta, reason in [
            ({"role": "assistant", "content": ""}, None),
            *((d, None) for d in deltas),
            ({}, finish),
        ]:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        usage = {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230}
        await response.write(
            b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n"
        )
        await response.write(b"data: [DONE]\n\n")
        return response


def _completion(body: dict[str, Any], deltas: list[dict[str, Any]], finish: str) -> dict[str, Any]:
    text = "".join(d.get("content") or "" for d in deltas)
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d and "id" in d["tool_calls"][0]]
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas if "tool_calls" in d)
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [{**calls[0], "function": {"name": "Bash", "arguments": arguments}}]
    return {
        "id": "chatcmpl-agent",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230},
    }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def recorder(seen: list[dict[str, Any]]) -> Any:
    """A middleware noting what the client sent (header names, body keys), secrets left out."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        entry: dict[str, Any] = {"method": request.method, "path": request.path_qs}
        entry["headers"] = sorted(h.lower() for h in request.headers)
        entry["anthropic-beta"] = request.headers.get("anthropic-beta")
        entry["auth"] = "bearer" if "Authorization" in request.headers else "x-api-key"
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                entry["keys"] = sorted(body)
                entry["model"] = body.get("model")
                entry["stream"] = body.get("stream")
                entry["max_tokens"] = body.get("max_tokens")
                entry["thinking"] = body.get("thinking")
                entry["tools"] = [t.get("name") for t in body.get("tools") or ()]
                entry["messages"] = [
                    (
                        m.get("role"),
                        [b.get("type") for b in m["content"]]
                        if isinstance(m.get("content"), list)
                        else "str",
                    )
                    for m in body.get("messages") or ()
                    if isinstance(m, dict)
                ]
                if os.environ.get("DUMP_BODIES"):
                    Path(os.environ["DUMP_BODIES"]).write_text(json.dumps(body, indent=1))
        seen.append(entry)
        return await handler(request)

    return record


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def run(claude: str) -> int:
    claude = os.path.abspath(claude)  # it runs in a scratch directory
    version = subprocess.run([claude, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"Claude Code: {version}")
    upstream = Upstream()
    up_runner, up_url = await start(upstream.app)
    config = parse_config(
        {
            "clients": [{"name": "agent", "key": KEY}],
            "model_aliases": {"claude-*": "gpt-4o", "*haiku*": "gpt-4o"},  # Claude Code's own names
            "accounts": [
                {
                    "id": "up",
                    "provider": "openai",
                    "base_url": f"{up_url}/v1",
                    "api_key": "sk-up",
                    "models": ["gpt-4o"],
                }
            ],
            "logging": {"level": "warning"},
            "state": {"path": os.path.join(tempfile.gettempdir(), f"pool-proxy-agents-{os.getpid()}.json")},
        }
    )
    app = create_app(config)
    seen: list[dict[str, Any]] = []
    app.middlewares.insert(0, recorder(seen))
    gw_runner, gw_url = await start(app)
    try:
        with tempfile.TemporaryDirectory() as home:
            work = Path(home) / "work"
            work.mkdir()
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": home,
                "ANTHROPIC_BASE_URL": gw_url,
                "ANTHROPIC_AUTH_TOKEN": KEY,
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_AUTOUPDATER": "1",
                **{
                    k: v
                    for k, v in os.environ.items()
                    if (k.startswith("ANTHROPIC_") and k.endswith("MODEL")) or k in PASSED
                },
            }
            process = await asyncio.create_subprocess_exec(
                claude,
                "-p",
                f"Run `echo {MARKER}` with Bash and tell me what it printed.",
                "--allowedTools",
                "Bash",
                "--output-format",
                "text",
                cwd=work,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    finally:
        await gw_runner.cleanup()
        await up_runner.cleanup()
    print(f"exit code: {process.returncode}")
    print("stdout:", out.decode().strip())
    if err.strip():
        print("stderr:", err.decode().strip()[-2000:])
    print("\nWhat Claude Code sent to the gateway:")
    for entry in seen:
        print(" ", json.dumps(entry))
    print("\nWhat reached the upstream (model, tools, roles):")
    for body in upstream.bodies:
        tools = [t["function"]["name"] for t in body.get("tools") or ()]
        roles = [m["role"] for m in body["messages"]]
        print(f"  model={body['model']} stream={body.get('stream')} tools={tools} roles={roles}")
    ran_tool = any(
        m.get("role") == "tool" and MARKER in str(m.get("content"))
        for b in upstream.bodies
        for m in b["messages"]
    )
    ok = process.returncode == 0 and ran_tool and MARKER in out.decode()
    print("\nRESULT:", "ok: Claude Code ran the tool and answered" if ok else "FAILED")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claude", required=True, help="path to the claude executable")
    sys.exit(asyncio.run(run(parser.parse_args().claude)))


if __name__ == "__main__":
    main()
