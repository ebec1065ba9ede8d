"""`mammouth`: a mammouth.ai web session; multipart in, raw text out (upstreams.md §2).

The answer is the assistant's text streamed with no framing, so bytes are decoded
incrementally and a multibyte character split across reads stays whole. The
multipart body is built anew for every attempt (a consumed form cannot be resent).
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from proxy.config import AccountConfig
from proxy.core.events import Event, Finish, Reply, TextDelta
from proxy.fetch import Image, load_image
from proxy.outcome import OutcomeKind, UpstreamError, transient
from proxy.providers.base import Capabilities, Provider, ProviderContext
from proxy.providers.cookies import clean_cookie
from proxy.providers.filecache import FileCache
from proxy.providers.signals import ANY, SERVER_ERRORS, Signal, classify, error_text, text
from proxy.providers.transport import ERROR_BODY_MAX, error_body, read_timeout, transport_errors
from proxy.providers.usage import estimate_usage
from proxy.request import ChatRequest, image_urls, text_of

log = logging.getLogger("pool_proxy.provider.mammouth")

ORIGIN = "https://mammouth.ai"
REFERER = "https://mammouth.ai/app/a/default"
CHAT_PATH = "/api/models/llms"
UPLOAD_PATH = "/api/attachments/saveFile"
UPLOAD_ATTEMPTS = 2  # per image and account; a rejected cookie fails over instead
UPLOAD_TIMEOUT = 30.0
SYSTEM_ROLES = ("system", "developer")

# OpenAI name -> Mammouth model id (upstreams.md §2.5); other names pass through unchanged.
MODEL_TABLE: dict[str, str] = {
    "claude-sonnet-4-20250514": "anthropic-claude-4-2025-05-14",
    "gpt-4o-mini": "openai-gpt-4o-mini",
    "gemini-2.5-pro": "google-gemini-2.5-pro",
    "grok-4": "xai-grok-4-0709",
    "gpt-5-thinking": "openai-gpt-5-thinking",
    "gpt-5": "openai-gpt-5",
    "gpt-5-mini": "openai-gpt-5-mini",
}

AUTH = OutcomeKind.AUTH_FAILED
QUOTA = OutcomeKind.QUOTA_EXHAUSTED
_SESSION_TEXTS = text(r"session|unauthori[sz]ed|not log(ged)? ?in|log ?in required|invalid (token|cookie)")

# What Mammouth's failures mean, tried in order; anything unmatched is transient.
SIGNALS: tuple[Signal, ...] = (
    Signal((401,), None, AUTH),
    Signal((403,), _SESSION_TEXTS, AUTH),  # a dead session, not the usage limit
    Signal((403,), None, QUOTA),  # Mammouth's usage limit
    Signal((429,), None, OutcomeKind.RATE_LIMITED),
    Signal(SERVER_ERRORS, None, OutcomeKind.TRANSIENT),
    Signal(ANY, text(r"usage limit|credit|quota|limite d'utilisation|使用限制"), QUOTA),
    Signal(ANY, _SESSION_TEXTS, AUTH),
    Signal((400, 413, 422), text(r"too long|too large|content (policy|filter)"), OutcomeKind.CLIENT_ERROR),
)


def unquote(value: str) -> str:
    """Mammouth once wrapped JSON `content` in extra quotes; strip one pair."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


class MammouthProvider(Provider):
    kind = "mammouth"
    capabilities = Capabilities(tools=False, vision=True, images=False)
    model_table = MODEL_TABLE
    open_table = True

    def __init__(self, account: AccountConfig, ctx: ProviderContext) -> None:
        super().__init__(account, ctx)
        self.base = account.base_url or ORIGIN
        self.cookie = clean_cookie(account.cookie or "", "auth_session")
        self.uploads: FileCache[str] = FileCache(256)

    # -- the request -------------------------------------------------------------------------

    async def _form(self, request: ChatRequest) -> aiohttp.FormData:
        """`model`, `preprompt`, then one `messages` JSON part per non-system turn (§2.3)."""
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("model", self.upstream_model(request.model))
        system = [text_of(m) for m in request.messages if m.get("role") in SYSTEM_ROLES]
        form.add_field("preprompt", "\n\n".join(t for t in system if t))
        for message in request.messages:
            if message.get("role") in SYSTEM_ROLES:
                continue
            images = [await self._upload(url) for url in image_urls(message)]
            turn = {"content": text_of(message) or ".", "imagesData": images, "documentsData": []}
            form.add_field("messages", orjson.dumps(turn).decode())
        return form

    async def _upload(self, url: str) -> str:
        image = await load_image(url, allow_private=self.ctx.allow_private_fetch)
        key = FileCache.key(image.data)
        location = self.uploads.get(key)
        if location is None:
            location = await self._save_file(image)
            self.uploads.put(key, location)
        return location

    async def _save_file(self, image: Image) -> str:
        """POST the bytes to saveFile; retry a transient failure, fail over on anything else."""
        error: UpstreamError = transient("mammouth upload failed")
        for _ in range(UPLOAD_ATTEMPTS):
            form = aiohttp.FormData(default_to_multipart=True)
            form.add_field("type", "image")
            form.add_field("name", f"{uuid.uuid4()}.{image.ext}")
            form.add_field("file", image.data, filename="blob", content_type="image/png")
            try:
                async with self.ctx.http(self.account).post(
                    self.base + UPLOAD_PATH,
                    data=form,
                    headers={"Cookie": self.cookie, "Origin": ORIGIN, "Referer": REFERER},
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT),
                ) as resp:
                    raw = await resp.read()
                    if resp.status == 200:
                        location = _location(raw)
                        if location:
                            return location
                        error = transient("mammouth upload answered without a location")
                    else:
                        error = self._failure(resp.status, raw, resp.headers, "mammouth upload")
            except TimeoutError:
                error = transient("mammouth upload timed out", timeout=True)
            except aiohttp.ClientError as exc:
                error = transient(f"mammouth upload failed: {type(exc).__name__}")
            if error.outcome.kind is not OutcomeKind.TRANSIENT:
                break
        raise error

    def _failure(self, status: int, raw: bytes, headers: Any = None, what: str = "mammouth") -> UpstreamError:
        body = raw[:ERROR_BODY_MAX].decode("utf-8", "replace")
        with contextlib.suppress(orjson.JSONDecodeError):
            body = error_text(orjson.loads(body)) or body
        return classify(SIGNALS, status, body, headers=headers, now=self.ctx.clock.now(), what=what)

    async def _open(self, request: ChatRequest, *, idle: float) -> aiohttp.ClientResponse:
        form = await self._form(request)
        with transport_errors("mammouth"):
            resp = await self.ctx.http(self.account).post(
                self.base + CHAT_PATH,
                data=form,
                headers={"Cookie": self.cookie, "origin": ORIGIN},
                allow_redirects=False,
                timeout=read_timeout(idle),
            )
        if resp.status == 200:
            return resp
        raise self._failure(resp.status, await error_body(resp), resp.headers)

    def _json_answer(self, raw: bytes) -> str:
        """A JSON body: its `content`, or the error it carries (classified)."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw.decode("utf-8", "replace")
        if isinstance(body, dict) and isinstance(body.get("content"), str) and body["content"]:
            return unquote(body["content"])
        if isinstance(body, str):
            return unquote(body)
        status = body.get("statusCode") if isinstance(body, dict) else None
        raise self._failure(status if isinstance(status, int) else 200, raw)

    # -- the answer --------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> Reply:
        resp = await self._open(request, idle=self.ctx.pool.first_byte_timeout)
        try:
            with transport_errors("mammouth", "answer"):
                raw = await resp.read()
        finally:
            resp.release()
        answer = self._json_answer(raw) if _is_json(resp) else raw.decode("utf-8", "replace")
        if not answer.strip():
            raise transient("mammouth answered with an empty body")
        return Reply(text=answer, usage=estimate_usage(request.messages, answer))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        resp = await self._open(request, idle=self.ctx.pool.stream_idle_timeout)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        answer: list[str] = []
        clean = False
        try:
            with transport_errors("mammouth", "stream"):
                if _is_json(resp):
                    answer.append(self._json_answer(await resp.read()))
                    if answer[0]:
                        yield TextDelta(answer[0])
                else:
                    async for block in resp.content.iter_any():
                        piece = decoder.decode(block)
                        if piece:
                            answer.append(piece)
                            yield TextDelta(piece)
                    tail = decoder.decode(b"", final=True)
                    if tail:
                        answer.append(tail)
                        yield TextDelta(tail)
            text = "".join(answer)
            if not text:
                raise transient("mammouth stream ended without content")
            yield Finish("stop")
            yield estimate_usage(request.messages, text)
            clean = True
        finally:
            if clean:
                resp.release()
            else:
                resp.close()


def _is_json(resp: aiohttp.ClientResponse) -> bool:
    return resp.content_type in ("application/json", "text/json")


def _location(raw: bytes) -> str:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    location = body.get("location") if isinstance(body, dict) else None
    return location if isinstance(location, str) else ""
