"""Codex CLI through the gateway's `/v1/responses` door, end to end (not part of `make test`).

Starts a scripted chat-completions upstream and the real gateway on loopback, points
`codex exec` at the gateway through a custom provider in a private CODEX_HOME, and
checks a two-turn run: the upstream asks Codex to run a shell command, Codex runs it
and sends the output back, and the upstream's final text quotes it. Prints the Codex
version and what Codex sent (paths, headers, body keys, tools).

    npm install --prefix /tmp/codex-cli @openai/codex
    .venv/bin/python tools/agents/codex_exec.py --codex /tmp/codex-cli/node_modules/.bin/codex
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from proxy.app import create_app
from proxy.config import parse_config

KEY = "sk-codex-agent-test-0123456789"
MARKER = "pool-proxy-codex-ok"


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+written by codex through pool-proxy\n*** End Patch\n"


class Upstream:
    """Turn 1: a call to Codex's shell tool (or, with `patch`, to its free-form apply_patch
    tool); turn 2 (a tool result present): the answer."""

    def __init__(self, patch: bool) -> None:
        self.patch = patch
        self.bodies: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        results = [m for m in body["messages"] if m.get("role") == "tool"]
        if results:
            return await self.stream(
                request, body, [{"content": f"The command printed: {results[-1]['content']}"}]
            )
        if self.patch:
            name, arguments = "apply_patch", json.dumps({"input": PATCH})
        else:
            name, arguments = _shell_call(body.get("tools") or [])
        pieces = [arguments[i : i + 7] for i in range(0, len(arguments), 7)]  # split like a real model
        deltas: list[dict[str, Any]] = [
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        ]
        deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
        return await self.stream(request, body, deltas, finish="tool_calls")

    async def stream(
        self, request: web.Request, body: dict[str, Any], deltas: list[dict[str, Any]], finish: str = "stop"
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
        for delta in [{"role": "assistant"}, *deltas]:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        chunk = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        usage = {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
        }
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        return response


def _shell_call(tools: list[dict[str, Any]]) -> tuple[str, str]:
    """Codex's shell tool as offered upstream, and arguments that fit its schema."""
    command = f"echo {MARKER}"
    for wanted in ("exec_command", "shell_command", "shell"):
        for tool in tools:
            function = tool["function"]
            if function["name"] != wanted:
                continue
            props = (function.get("parameters") or {}).get("properties") or {}
            if "cmd" in props:
                return wanted, json.dumps({"cmd": command})
            if props.get("command", {}).get("type") == "array":
                return wanted, json.dumps({"command": ["bash", "-lc", command]})
            return wanted, json.dumps({"command": command})
    raise SystemExit(f"no shell tool offered upstream; got {[t['function']['name'] for t in tools]}")


async def main(codex: str, patch: bool) -> int:
    upstream = Upstream(patch)
    up_runner = web.AppRunner(upstream.app)
    await up_runner.setup()
    await web.TCPSite(up_runner, "127.0.0.1", 0).start()
    up_url = f"http://127.0.0.1:{up_runner.addresses[0][1]}/v1"

    work = Path(tempfile.mkdtemp(prefix="codex-agent-"))
    config = parse_config(
        {
            "clients": [{"name": "codex", "key": KEY}],
            "accounts": [
                {
                    "id": "fake",
                    "provider": "openai",
                    "base_url": up_url,
                    "api_key": "sk-up",
                    "models": ["gpt-4o-mini"],
                }
            ],
            "model_aliases": {"gpt-5.5": "gpt-4o-mini"},
            "state": {"path": str(work / "state.json")},
            "logging": {"level": "warning"},
        }
    )
    app = create_app(config)
    seen: list[dict[str, Any]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        parsed = json.loads(body) if body else {}
        seen.append({"path": request.path_qs, "headers": sorted(request.headers), "body": parsed})
        return await handler(request)  # type: ignore[no-any-return]

    app.middlewares.insert(0, record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]

    home = work / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "gpt-5.5"\nmodel_provider = "pool"\n\n[model_providers.pool]\nname = "pool-proxy"\n'
        f'base_url = "http://127.0.0.1:{port}/v1"\nenv_key = "POOL_PROXY_KEY"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n"
    )
    env = {**os.environ, "CODEX_HOME": str(home), "POOL_PROXY_KEY": KEY, "NO_COLOR": "1"}
    version = subprocess.run([codex, "--version"], capture_output=True, text=True, env=env).stdout.strip()
    args = [codex, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
    proc = await asyncio.create_subprocess_exec(
        *args,
        "-C",
        str(work),
        "Run the marker command and tell me what it printed.",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    await runner.cleanup()
    await up_runner.cleanup()

    print(f"codex: {version}; exit {proc.returncode}")
    for entry in seen:
        body = entry["body"]
        tools = [t.get("type") + ":" + str(t.get("name")) for t in body.get("tools") or []]
        print(f"-> {entry['path']} headers={entry['headers']}")
        items = [f"{i.get('type', 'message')}:{i.get('role', '')}" for i in body.get("input") or []]
        print(f"   body keys={sorted(body)} input items={items}")
        fields = {
            k: body.get(k)
            for k in ("model", "stream", "store", "reasoning", "text", "include", "tool_choice")
        }
        print(f"   {json.dumps(fields)}")
        print(f"   tools={tools}")
    print(f"upstream calls: {len(upstream.bodies)}")
    print("--- codex stdout\n" + out.decode()[-2000:])
    if patch:
        written = work / "hello.txt"
        ok = written.exists() and "pool-proxy" in written.read_text()
        print("apply_patch (custom tool) round trip:", "ok" if ok else "FAILED")
        if not ok:
            print("--- codex stderr\n" + err.decode()[-4000:])
        return 0 if ok else 1
    if proc.returncode != 0 or MARKER not in out.decode():
        print("--- codex stderr\n" + err.decode()[-4000:])
        return 1
    ok = len(upstream.bodies) >= 2 and any(
        m.get("role") == "tool" and MARKER in str(m.get("content")) for m in upstream.bodies[-1]["messages"]
    )
    print("round trip:", "ok" if ok else "FAILED (no tool result reached the upstream)")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codex", default="codex", help="path to the codex binary")
    parser.add_argument("--patch", action="store_true", help="have Codex write a file with apply_patch")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.codex, args.patch)))
