"""The provider interface: one upstream's wire format and how to read its failures.

A provider knows nothing of pools, limits, clients or doors. It turns a `ChatRequest`
into an upstream call and the answer into typed events (proxy.core.events), and
raises `UpstreamError` carrying a classified `Outcome` when the call fails.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from fnmatch import translate
from typing import Any, ClassVar

import aiohttp

from proxy.clock import Clock
from proxy.config import AccountConfig, PoolConfig
from proxy.core.events import Event, Reply
from proxy.request import ChatRequest


@dataclass(frozen=True)
class Capabilities:
    tools: bool = False  # can call tools (function calling)
    vision: bool = False  # accepts image_url parts
    images: bool = False  # can draw (/v1/images/generations)


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
    open_table: ClassVar[bool] = False  # a `models` glob may admit names outside its table
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
        return self.open_table or not self.model_table or model in self.model_table

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
        """The whole answer, its `usage` always set (estimated when the upstream reports
        none); with `request.passthrough`, an OpenAI upstream also keeps its body in `raw`.
        Raises `UpstreamError` on failure."""

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """The answer as it arrives: content events (text, reasoning, tool-call deltas),
        then one `Finish`, then exactly one `Usage` (estimated when the upstream reports none).

        Nothing is yielded before the upstream produced content, so that a failure up to
        that point can still fail over; failures raise `UpstreamError`, also mid-stream.
        With `request.passthrough`, an OpenAI-compatible upstream yields `Raw` blocks of its
        own SSE events instead (whole events, no `[DONE]`; the finish is inside them),
        then exactly one `Usage`. An async generator: callers `aclose()` it when done.
        """

    async def generate_images(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"provider {self.kind} cannot generate images")
