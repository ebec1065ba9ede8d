"""Issue 11, done when: a real Open WebUI chat, default settings, on a Monica account whose
(fake) model answers with a `<tool_call>` for one of the tools Open WebUI sent, shows Open
WebUI running that tool and the model's follow-up answer (not part of `make test`).

Starts the tests' fake Monica, the real gateway (one Monica account, `unsupported_tools` at its
default, emulate), a real Open WebUI on it and headless Chromium, which types "What time is
it?" into the chat box. The model calls Open WebUI's built-in `get_current_timestamp`; Open
WebUI runs it and sends the result back; the model answers from it. Prints what Open WebUI
sent, what the upstream received and what the page showed; exits 1 if any link is missing.

    make openwebui        # installs Open WebUI and playwright-core under .openwebui/, runs this
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import stack


async def main(keep: bool, save: Path | None) -> int:
    monica = stack.ModelMonica(stack.clock_model)
    async with stack.workdir("owui-tools-", keep) as work:
        async with stack.gateway(monica, 1, {}, work) as gw, stack.open_webui(gw.url, work) as url:
            [turn] = await stack.browse(url, ["What time is it?"], work)
        if save:
            stack.save_bodies(gw, save)
        print(stack.versions())
        print("\n== what Open WebUI sent the gateway")
        stack.print_seen(gw)
        chats = [s for s in gw.seen if not s.task]
        upstream = [s for s in monica.seen if stack.TASK not in stack.said(s.questions[-1])]
        print("\n== what the upstream (fake Monica) received")
        for n, seen in enumerate(upstream, 1):
            preamble = seen.questions[0].split(stack.PREAMBLE_CLOSE, 1)[0]
            tool_lines = [line for line in preamble.splitlines() if line.startswith('{"name":')]
            print(f"chat {n}: session {seen.session}, system text with {len(tool_lines)} tool lines:")
            print("   " + next((line for line in tool_lines if stack.CLOCK in line), "(no clock tool)"))
            print(f"   last question: {stack.said(seen.questions[-1])[:300]}")
        print("\n== what Open WebUI showed")
        print(turn["shown"])
        print(f"(screenshot: {work}/turn-01.png)" if keep else "")

        results = [stack.said(s.questions[-1]) for s in upstream[1:]]
        checks = {
            "Open WebUI sent tools with the chat": bool(chats and chats[0].body.get("tools")),
            "the gateway emulated them": chats[0].tools == "emulated" if chats else False,
            "the upstream's system text listed the clock tool": bool(upstream)
            and stack.offered(upstream[0], stack.CLOCK),
            "Open WebUI sent the tool's result back": len(chats) >= 2
            and any(m.get("role") == "tool" for m in chats[1].body["messages"]),
            "the upstream got it as <tool_response>": any(
                r.startswith(f'<tool_response>{{"name":"{stack.CLOCK}"') for r in results
            ),
            "Open WebUI showed the tool ran": f"View Result from {stack.CLOCK}" in turn["shown"],
            "Open WebUI showed the follow-up answer": "The clock tool says it is 20" in turn["shown"],
            "the upstream saw only well-formed requests": monica.problems == [],
        }
        return stack.report(checks, monica.problems)


if __name__ == "__main__":
    args = stack.arguments(__doc__).parse_args()
    sys.exit(asyncio.run(main(args.keep, args.save)))
