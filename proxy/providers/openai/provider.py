"""`openai`: any OpenAI-compatible service, relayed with as little work as possible.

With `request.passthrough` (the OpenAI door), bodies and SSE events keep the upstream's
own bytes (`Reply.raw`, `Raw` events; see raw.py). Otherwise the answer is read into
typed events (parse.py). Either way the gateway asks a stream for usage, so that it
can count tokens, and drops the usage chunk again when the client did not ask.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from proxy.config import AccountConfig
from proxy.core.events import Event, Finish, Raw, Reply
from proxy.outcome import transient
from proxy.providers.base import Capabilities, Provider, ProviderContext
from proxy.providers.openai.effort import EffortMemory
from proxy.providers.openai.embeddings import post_embeddings
from proxy.providers.openai.parse import ChunkReader, relayed_reply, reply_of
from proxy.providers.openai.raw import RawBlocks, boundary, check_first
from proxy.providers.openai.signals import classify_openai
from proxy.providers.transport import error_body, read_timeout, transport_errors
from proxy.providers.usage import estimate_usage
from proxy.request import ChatRequest

log = logging.getLogger("pool_proxy.provider.openai")


class OpenAIProvider(Provider):
    kind = "openai"
    capabilities = Capabilities(tools=True, vision=True, images=False)
    open_table = True

    def __init__(self, account: AccountConfig, ctx: ProviderContext) -> None:
        super().__init__(account, ctx)
        self._url = f"{account.base_url}/chat/completions"
        self._effort = EffortMemory(account.id)  # models that refuse `reasoning_effort` (effort.py)
        self._auth = {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}
        self._timeouts_of = ctx.pool
        self._timeouts = self._read_timeouts()

    def _read_timeouts(self) -> dict[bool, aiohttp.ClientTimeout]:
        """Built once per pool config: the hot path allocates no timeout objects."""
        pool = self._timeouts_of = self.ctx.pool
        return {False: read_timeout(pool.first_byte_timeout), True: read_timeout(pool.stream_idle_timeout)}

    def _timeout(self, stream: bool) -> aiohttp.ClientTimeout:
        if self.ctx.pool is not self._timeouts_of:  # a reload changed the pool section
            self._timeouts = self._read_timeouts()
        return self._timeouts[stream]

    async def start(self) -> None:
        """Without a `models` list, ask the upstream which models it serves."""
        if self.account.models:
            return
        try:
            async with self.ctx.http(self.account).get(
                f"{self.account.base_url}/models",
                headers=self._auth,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp:
                data = orjson.loads(await resp.read()) if resp.status == 200 else None
            ids = tuple(str(m["id"]) for m in data["data"]) if isinstance(data, dict) else ()
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError, TypeError):
            ids = ()
        if ids:
            self.set_models(ids)
        else:
            log.warning(
                "could not list upstream models; serving any model name",
                extra={"account": self.account.id},
            )

    async def _post(self, request: ChatRequest, *, stream: bool) -> aiohttp.ClientResponse:
        with transport_errors("upstream"):
            return await self.ctx.http(self.account).post(
                self._url,
                data=request.upstream_body(force_usage=stream),
                headers=self._auth,
                timeout=self._timeout(stream),
            )

    async def _answer(self, request: ChatRequest) -> tuple[aiohttp.ClientResponse, bytes]:
        resp = await self._post(request, stream=False)
        try:
            with transport_errors("upstream", "read"):
                return resp, await resp.read()
        finally:
            resp.release()

    async def complete(self, request: ChatRequest) -> Reply:
        request = self._effort.prepare(request)
        resp, data = await self._answer(request)
        if resp.status != 200:
            again = self._effort.retry(request, resp.status, data)
            if again is not None:
                request = again
                resp, data = await self._answer(request)
        if resp.status != 200:
            raise classify_openai(resp.status, resp.headers, data, self.ctx.clock.now())
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise transient("upstream answered 200 with a body that is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                raise classify_openai(502, resp.headers, data, self.ctx.clock.now())
            raise transient("upstream answered 200 without choices")
        if request.passthrough:
            relayed = relayed_reply(body, data)
            if relayed is not None:
                return relayed
        reply = reply_of(body)
        if reply.usage is None:
            reply.usage = estimate_usage(request.messages, reply.reasoning + reply.text)
        if request.passthrough:
            reply.raw = data
        return reply

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        return self._raw(request) if request.passthrough else self._typed(request)

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        """`/v1/embeddings` on this account (embeddings.py)."""
        url = f"{self.account.base_url}/embeddings"
        http = self.ctx.http(self.account)
        return await post_embeddings(http, url, self._auth, body, self._timeout(False), self.ctx.clock)

    async def _open(self, request: ChatRequest) -> aiohttp.ClientResponse:
        """The 200 stream; an effort field the model refuses is dropped and sent again once."""
        request = self._effort.prepare(request)
        resp = await self._post(request, stream=True)
        if resp.status == 200:
            return resp
        data = await error_body(resp)
        again = self._effort.retry(request, resp.status, data)
        if again is not None:
            resp = await self._post(again, stream=True)
            if resp.status == 200:
                return resp
            data = await error_body(resp)
        raise classify_openai(resp.status, resp.headers, data, self.ctx.clock.now())

    async def _raw(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """`Raw` blocks of whole events as they arrive, then one `Usage`."""
        resp = await self._open(request)
        blocks = RawBlocks(strip_usage=not request.include_usage)
        pending = b""
        sent = False
        with Streaming(resp):
            async for block in resp.content.iter_any():
                pending += block
                cut = boundary(pending)
                if cut < 0:
                    continue
                events, pending = pending[:cut], pending[cut:]
                if not sent:
                    check_first(events, self.ctx.clock.now())
                events = blocks.clean(events)
                if events:
                    sent = True
                    yield Raw(events, blocks.ended)
        if pending.strip():
            if not sent:
                check_first(pending, self.ctx.clock.now())
            events = blocks.clean(pending if pending.endswith(b"\n\n") else pending + b"\n\n")
            if events.strip():
                sent = True
                yield Raw(events if events.endswith(b"\n\n") else events + b"\n\n", blocks.ended)
        if not sent:
            raise transient("upstream stream ended without content")
        yield blocks.usage or estimate_usage(request.messages, "")

    async def _typed(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Each chunk's deltas as events, then `Finish` and `Usage`."""
        resp = await self._open(request)
        reader = ChunkReader()
        produced = False
        pending = b""
        done = False  # [DONE] seen: what follows is not the answer
        with Streaming(resp):
            async for block in resp.content.iter_any():
                pending += block
                cut = boundary(pending)
                if cut < 0:
                    continue
                events, pending = pending[:cut], pending[cut:]
                found, done = self._read(events, reader)
                for event in found:
                    produced = True
                    yield event
                if done:
                    break
        if not done and pending.strip():
            found, done = self._read(pending, reader)
            for event in found:
                produced = True
                yield event
        if not produced and reader.finish is None:
            raise transient("upstream stream ended without content")
        yield Finish(reader.finish or "stop")
        yield reader.usage or estimate_usage(request.messages, "".join(reader.said))

    def _read(self, events: bytes, reader: ChunkReader) -> tuple[list[Event], bool]:
        """The events of whole SSE events, and whether `[DONE]` was among them."""
        done = reader.feed(events)
        if reader.error is not None:
            raise classify_openai(502, None, orjson.dumps(reader.error), self.ctx.clock.now())
        return reader.take(ends=done), done


class Streaming:
    """An open stream's response: released when the stream ended, dropped otherwise (so
    the upstream stops generating); stalls and broken connections become `transient`.

    A class rather than a generator-based context manager: it sits on the hot path.
    """

    __slots__ = ("resp",)

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.resp.release()
            return
        self.resp.close()
        if issubclass(kind, TimeoutError):
            raise transient("upstream stream stalled", timeout=True) from None
        if issubclass(kind, aiohttp.ClientError):
            raise transient(f"upstream stream broke: {kind.__name__}") from None
