"""The provider interface: one upstream's wire format and how to read its failures.

A provider knows nothing of pools, limits or clients. It turns a `ChatRequest`
into an upstream call and the answer into OpenAI output, and raises
`UpstreamError` carrying a classified `Outcome` when the call fails.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any, ClassVar

import aiohttp

from proxy.clock import Clock
from proxy.config import AccountConfig, PoolConfig
from proxy.request import ChatRequest


@dataclass(frozen=True)
class Capabilities:
    tools: bool = False  # can call tools (function calling)
    vision: bool = False  # accepts image_url parts
    images: bool = False  # can draw (/v1/images/generations)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    def as_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass
class Reply:
    """A finished non-streaming answer: the `chat.completion` JSON to return as is."""

    body: bytes
    usage: Usage | None = None
    text: str = ""  # the answer text, for opt-in body logging


@dataclass
class StreamSink:
    """Where a stream reports what it saw, read by the gateway once the stream ends."""

    usage: Usage | None = None
    text: list[str] = field(default_factory=list)
    collect_text: bool = False

    def finish(self, usage: Usage, answer: str) -> Usage:
        """Record how a synthesised stream ended; returns the usage for its last chunk."""
        self.usage = usage
        if self.collect_text:
            self.text.append(answer)
        return usage


@dataclass
class ProviderContext:
    """What every provider shares: the HTTP client, the clock, the pool timeouts."""

    session: aiohttp.ClientSession
    clock: Clock
    pool: PoolConfig
    allow_private_fetch: bool = False
    _insecure: aiohttp.ClientSession | None = None

    def http(self, account: AccountConfig) -> aiohttp.ClientSession:
        """The shared session, or one without TLS verification for `tls_verify: false`."""
        if account.tls_verify:
            return self.session
        if self._insecure is None:
            self._insecure = new_session(verify=False)
        return self._insecure

    async def close(self) -> None:
        if self._insecure is not None:
            await self._insecure.close()


def new_session(*, verify: bool = True) -> aiohttp.ClientSession:
    """One pooled, keep-alive client session for all upstream calls of a process."""
    connector = aiohttp.TCPConnector(
        limit=0,  # the pool's own limits decide concurrency, not the connector
        limit_per_host=0,
        ttl_dns_cache=300,
        keepalive_timeout=60,
        ssl=verify,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )


class Provider(ABC):
    """One account's upstream. Subclasses set `kind`, `capabilities`, `model_table`."""

    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    model_table: ClassVar[Mapping[str, str]] = {}  # OpenAI name -> upstream id
    passthrough: ClassVar[bool] = False  # a glob may admit names outside its table
    default_models: ClassVar[tuple[str, ...]] = ()  # patterns when the account gives none

    def __init__(self, account: AccountConfig, ctx: ProviderContext) -> None:
        self.account = account
        self.ctx = ctx
        self._patterns: tuple[str, ...] = account.models or self.default_models
        self._compile()

    def _compile(self) -> None:
        exact = {p for p in self._patterns if not any(ch in p for ch in "*?[")}
        globs = [translate(p) for p in self._patterns if p not in exact]
        self._exact = exact
        self._glob = re.compile("|".join(globs)) if globs else None

    def set_models(self, models: tuple[str, ...]) -> None:
        """Replace the served models (e.g. after fetching them from the upstream)."""
        self._patterns = models
        self._compile()

    def serves(self, model: str) -> bool:
        if not self._patterns:
            return model in self.model_table if self.model_table else True
        if model in self._exact:
            return True
        if self._glob is None or not self._glob.match(model):
            return False
        return self.passthrough or not self.model_table or model in self.model_table

    def listed_models(self) -> tuple[str, ...]:
        """Concrete model names for /v1/models (globs expand over the provider's table)."""
        if not self._patterns:
            return tuple(self.model_table)
        names = [p for p in self._patterns if p in self._exact]
        if self._glob is not None:
            names += [m for m in self.model_table if self._glob.match(m) and m not in names]
        return tuple(names)

    def upstream_model(self, model: str) -> str:
        return self.model_table.get(model, model)

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Called once when the account joins the pool (e.g. to fetch its model list)."""

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Reply:
        """A non-streaming answer, or raise `UpstreamError`."""

    @abstractmethod
    def stream(self, request: ChatRequest, sink: StreamSink) -> AsyncGenerator[bytes, None]:
        """SSE-framed OpenAI chunks as they arrive (`data: …\\n\\n`), ending with `[DONE]`.

        Nothing may be yielded before the upstream produced content, so that a failure
        before that point can still fail over; raise `UpstreamError` instead.
        """

    async def generate_images(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"provider {self.kind} cannot generate images")
