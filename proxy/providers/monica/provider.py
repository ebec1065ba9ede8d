"""`monica`: a monica.im web session, chat over SSE (upstreams.md §1).

System prompts use Custom Bot Mode when the account has a `custom_bot_uid`;
otherwise they are folded into the first user turn as a marked preamble, since
normal mode has no system prompt. Usage is estimated: Monica reports none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from proxy.config import AccountConfig
from proxy.core.events import Event, Finish, ReasoningDelta, Reply, TextDelta
from proxy.outcome import UpstreamError, transient
from proxy.providers.base import Capabilities, Provider, ProviderContext
from proxy.providers.monica.body import (
    MODEL_TABLE,
    Turn,
    chat_body,
    custom_bot_body,
    system_prompt,
    turns_of,
)
from proxy.providers.monica.client import MonicaClient
from proxy.providers.monica.draw import draw
from proxy.providers.monica.events import EventReader, ThinkTags, inline
from proxy.providers.monica.uploads import Uploader
from proxy.providers.transport import error_body, read_timeout, transport_errors
from proxy.providers.usage import estimate_usage
from proxy.request import ChatRequest

log = logging.getLogger("pool_proxy.provider.monica")

CHAT_PATH = "/api/custom_bot/chat"
CUSTOM_BOT_PATH = "/api/custom_bot/preview_chat"


class MonicaProvider(Provider):
    kind = "monica"
    capabilities = Capabilities(tools=False, vision=True, images=True)
    model_table = MODEL_TABLE
    open_table = True  # a `models` glob may admit names outside the table (sent as bot_uid)

    def __init__(self, account: AccountConfig, ctx: ProviderContext) -> None:
        super().__init__(account, ctx)
        self.client = MonicaClient(account, ctx)
        self.uploader = Uploader(self.client)
        self.warned: set[str] = set()  # model names passed through as bot_uid, warned about once

    def bot_uid(self, model: str) -> str:
        bot = MODEL_TABLE.get(model)
        if bot is not None:
            return bot
        if model not in self.warned:
            self.warned.add(model)
            log.warning("model not in the Monica table; sent as bot_uid unchanged", extra={"model": model})
        return model

    # -- the request -------------------------------------------------------------------------

    async def _prepare(self, request: ChatRequest) -> tuple[str, dict[str, Any]]:
        prompt = system_prompt(request.messages)
        custom = bool(self.account.custom_bot_uid and prompt)
        turns = turns_of(request.messages, fold_system=not custom)
        await self._attach(turns)
        if custom:
            assert self.account.custom_bot_uid is not None
            body = custom_bot_body(self.account.custom_bot_uid, request.model, prompt, turns)
            return self.client.base + CUSTOM_BOT_PATH, body
        return self.client.base + CHAT_PATH, chat_body(self.bot_uid(request.model), request.model, turns)

    async def _attach(self, turns: list[Turn]) -> None:
        """Upload every image (in parallel); each becomes a `file_infos` entry of its turn."""
        jobs = [(turn, url) for turn in turns for url in turn.images]
        if not jobs:
            return
        infos = await asyncio.gather(*(self.uploader.file_info(url) for _, url in jobs))
        for (turn, _), info in zip(jobs, infos, strict=True):
            turn.files.append(info)

    async def _open(self, request: ChatRequest, *, idle: float) -> aiohttp.ClientResponse:
        """POST the chat and return the 200 SSE response, or raise the classified failure."""
        url, body = await self._prepare(request)
        with transport_errors("monica"):
            resp = await self.client.http.post(
                url,
                data=orjson.dumps(body),
                headers=self.client.headers(sse=True),
                allow_redirects=False,
                timeout=read_timeout(idle),
            )
        if resp.status == 200:
            return resp
        raise self.client.failure(resp.status, await error_body(resp), resp.headers)

    def _empty(self, reader: EventReader) -> UpstreamError:
        """No answer: a 200 that was not SSE is judged by its text, else an empty stream."""
        if reader.other:
            return self.client.failure(200, bytes(reader.other))
        return transient("monica stream ended without content")

    # -- the answer --------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> Reply:
        resp = await self._open(request, idle=self.ctx.pool.first_byte_timeout)
        reader = EventReader()
        text: list[str] = []
        reasoning: list[str] = []
        try:
            async for delta in reader.deltas(resp.content):
                (reasoning if isinstance(delta, ReasoningDelta) else text).append(delta.text)
        except TimeoutError:
            raise transient("monica stream stalled", timeout=True) from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise transient(f"monica stream broke: {type(exc).__name__}") from None
        finally:
            resp.close()
        answer, thought = "".join(text), "".join(reasoning)
        if not answer and not thought:
            raise self._empty(reader)
        usage = estimate_usage(request.messages, thought + answer)
        if self.account.reasoning == "think_tags":
            return Reply(text=inline(thought, answer), usage=usage)
        return Reply(text=answer, reasoning=thought, usage=usage)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        resp = await self._open(request, idle=self.ctx.pool.stream_idle_timeout)
        reader = EventReader()
        tags = ThinkTags() if self.account.reasoning == "think_tags" else None
        said: list[str] = []  # reasoning and text alike: both cost completion tokens
        clean = False
        try:
            try:
                async for delta in reader.deltas(resp.content):
                    said.append(delta.text)
                    yield tags.convert(delta) if tags else delta
            except TimeoutError:
                raise transient("monica stream stalled", timeout=True) from None
            except (aiohttp.ClientError, ValueError) as exc:
                raise transient(f"monica stream broke: {type(exc).__name__}") from None
            if not said:
                raise self._empty(reader)
            closing = tags.close() if tags else ""
            if closing:
                yield TextDelta(closing)
            yield Finish("stop")
            yield estimate_usage(request.messages, "".join(said))
            clean = True
        finally:
            if clean:
                resp.release()
            else:
                resp.close()  # drop the connection so Monica stops generating

    # -- drawing -----------------------------------------------------------------------------

    async def generate_images(self, body: dict[str, Any]) -> dict[str, Any]:
        return await draw(
            self.client, str(body["prompt"]), int(body["n"]), str(body["size"]), int(self.ctx.clock.now())
        )
