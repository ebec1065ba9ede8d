"""Issue 13, done when (part): a ten-turn Open WebUI conversation stays on one account
(not part of `make test`).

Three Monica accounts on the tests' fake Monica, `pool.strategy: round_robin`,
`pool.sticky: {enabled: true, ttl: 1h}`; a real Open WebUI in headless Chromium holds a
ten-turn chat in one window (one turn asks the time, so a tool round trip is part of it).
Which account served each request is read twice: from the session cookie the fake Monica
received, and from the gateway's `x-pool-proxy-account`. Open WebUI's background calls
(title, tags, follow-ups) are listed too: they are separate conversations. With `--off`,
the same run without sticky, to see the turns spread.

    make openwebui
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import stack

PROMPTS = [
    "Plan a weekend in Lyon.",
    "Which museums first?",
    "Where should we eat on Saturday?",
    "What time is it?",
    "Add a walk along the Saone.",
    "Is Sunday morning market worth it?",
    "Suggest a wine bar.",
    "How do we get to the airport?",
    "Summarise the plan.",
    "Thanks, that is all.",
]


async def main(sticky: bool, keep: bool, save: Path | None) -> int:
    monica = stack.ModelMonica(stack.clock_model)
    pool = {"strategy": "round_robin", "sticky": {"enabled": sticky, "ttl": "1h"}}
    async with stack.workdir("owui-sticky-", keep) as work:
        async with stack.gateway(monica, 3, pool, work) as gw, stack.open_webui(gw.url, work) as url:
            turns = await stack.browse(url, PROMPTS, work)
        if save:
            stack.save_bodies(gw, save)
        print(stack.versions())
        print(f"pool: {pool}")
        print("\n== what Open WebUI sent the gateway, and which account served it")
        stack.print_seen(gw)

        chats = [s for s in gw.seen if not s.task]
        upstream_chats = [s for s in monica.seen if stack.TASK not in stack.said(s.questions[-1])]
        tasks = Counter((stack.kind(s), s.account) for s in gw.seen if s.task)
        accounts = Counter(s.account for s in chats)
        sessions = Counter(s.session for s in upstream_chats)
        shown = [t["shown"] for t in turns]
        print("\n== the conversation")
        print(f"turns answered in the browser: {len(turns)}; chat requests: {len(chats)}")
        print(f"accounts (gateway x-pool-proxy-account): {dict(accounts)}")
        print(f"sessions (cookie the fake Monica received): {dict(sessions)}")
        print(f"background calls (kind, account): {dict(tasks)}")
        print(f"turn 4 showed: {shown[3]!r}" if len(shown) > 3 else "")

        checks = {
            "ten turns answered in one chat": len(turns) == 10 and len({t["url"] for t in turns}) == 1,
            "every turn showed its own answer": all(
                f"Noted: {t['prompt']}" in t["shown"] or "The clock tool says" in t["shown"] for t in turns
            ),
            "a tool round trip was part of it": any(
                m.get("role") == "tool" for s in chats for m in s.body["messages"]
            ),
            "the upstream saw only well-formed requests": monica.problems == [],
        }
        one_account = len(accounts) == 1 and len(sessions) == 1
        if sticky:
            checks["every chat request landed on one account"] = one_account
        else:
            checks["without sticky the turns spread"] = not one_account
        return stack.report(checks, monica.problems)


if __name__ == "__main__":
    parser = stack.arguments(__doc__)
    parser.add_argument("--off", action="store_true", help="sticky disabled: the turns should spread")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(not args.off, args.keep, args.save)))
