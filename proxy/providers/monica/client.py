"""HTTP to Monica: headers (upstreams.md §1.2), JSON calls, and failures read through SIGNALS."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
import orjson

from proxy.config import AccountConfig
from proxy.outcome import UpstreamError, transient
from proxy.providers.base import ProviderContext
from proxy.providers.cookies import clean_cookie
from proxy.providers.monica.signals import SIGNALS
from proxy.providers.signals import classify, error_text
from proxy.providers.transport import ERROR_BODY_MAX

USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
JSON_TIMEOUT = 30.0


class MonicaClient:
    def __init__(self, account: AccountConfig, ctx: ProviderContext) -> None:
        self.account = account
        self.ctx = ctx
        self.base = account.base_url or "https://api.monica.im"
        self.cookie = clean_cookie(account.cookie or "", "session_id")

    def headers(self, *, sse: bool = False) -> dict[str, str]:
        headers = {"cookie": self.cookie, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        if sse:
            headers["x-client-locale"] = "zh_CN"
            headers["Accept"] = "text/event-stream,application/json"
        return headers

    @property
    def http(self) -> aiohttp.ClientSession:
        return self.ctx.http(self.account)

    def failure(
        self, status: int, body: bytes | str, headers: Any = None, what: str = "monica"
    ) -> UpstreamError:
        """Classify a failed answer; a redirect is judged by where it points."""
        text = body if isinstance(body, str) else body[:ERROR_BODY_MAX].decode("utf-8", "replace")
        with contextlib.suppress(orjson.JSONDecodeError):
            text = error_text(orjson.loads(text)) or text
        if 300 <= status < 400 and headers is not None:
            text = f"{headers.get('Location', '')} {text}"
        return classify(SIGNALS, status, text, headers=headers, now=self.ctx.clock.now(), what=what)

    async def post_json(self, path: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        """POST a JSON call and return its `data`; non-zero `code` or bad status raise."""
        try:
            async with self.http.post(
                self.base + path,
                data=orjson.dumps(body),
                headers=self.headers(),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=JSON_TIMEOUT),
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise self.failure(resp.status, raw, resp.headers, what)
        except TimeoutError:
            raise transient(f"{what} timed out", timeout=True) from None
        except aiohttp.ClientError as exc:
            raise transient(f"{what} failed: {type(exc).__name__}") from None
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self.failure(200, raw, None, what) from None
        if not isinstance(answer, dict):
            raise transient(f"{what} answered an unexpected shape")
        if answer.get("code", 0) not in (0, None):
            raise self.failure(200, error_text(answer) or raw.decode("utf-8", "replace"), None, what)
        data = answer.get("data")
        return data if isinstance(data, dict) else {}
