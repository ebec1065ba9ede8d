"""What the fake upstreams share: per-credential fault scripts and a record of what they
were sent; for the cookie upstreams (Monica, Mammouth) also reading the session cookie
the way the real upstream does."""

from __future__ import annotations

from collections import defaultdict, deque
from http.cookies import SimpleCookie
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web

StepT = TypeVar("StepT")


class Scripted(Generic[StepT]):
    """Answers scripted per credential (an API key, a session), then a default."""

    def __init__(self, default: StepT) -> None:
        self.scripts: dict[str, deque[StepT]] = defaultdict(deque)
        self.default = default
        self.seen: list[Any] = []
        self.problems: list[str] = []  # what the gateway sent wrong; tests assert it stays empty

    def script(self, session: str, *steps: StepT) -> None:
        """Answer this session's next requests with `steps`, then with the default."""
        self.scripts[session].extend(steps)

    def next_step(self, session: str) -> StepT:
        queue = self.scripts.get(session)
        return queue.popleft() if queue else self.default


class CookieSessions(Scripted[StepT]):
    cookie_name: ClassVar[str]  # session_id (Monica), auth_session (Mammouth)

    def sessions_seen(self) -> list[str]:
        return [s.session for s in self.seen]

    def session_of(self, request: web.Request) -> tuple[str, str | None]:
        """The session cookie's value, or what is wrong with the Cookie header."""
        raw = request.headers.get("Cookie", "")
        if not raw or any(ch in raw for ch in "\r\n\t"):
            return "", f"bad cookie header {raw!r}"
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw)
        if self.cookie_name not in jar:
            return "", f"no {self.cookie_name} in cookie {raw!r}"
        return jar[self.cookie_name].value, None
