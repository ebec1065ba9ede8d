"""Providers driven directly (no gateway) against the fake upstreams: what events they yield."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from proxy.clock import FakeClock
from proxy.config import parse_config
from proxy.core.events import Event
from proxy.providers import Provider, ProviderContext, build_provider
from proxy.providers.base import new_session
from proxy.request import ChatRequest, parse_chat
from tests.conftest import base_config


@contextlib.asynccontextmanager
async def provider_of(account: dict[str, Any], **pool: Any) -> AsyncIterator[Provider]:
    """The provider of one account as the gateway would build it, on a real HTTP session."""
    config = parse_config(base_config(accounts=0, pool=pool) | {"accounts": [account]})
    ctx = ProviderContext(new_session(), FakeClock(), config.pool)
    try:
        provider = build_provider(config.accounts[0], ctx)
        await provider.start()
        yield provider
    finally:
        await ctx.close()
        await ctx.session.close()


def request(body: dict[str, Any], *, passthrough: bool = False) -> ChatRequest:
    chat = parse_chat(orjson.dumps(body), {})
    chat.passthrough = passthrough
    return chat


async def events_of(provider: Provider, chat: ChatRequest) -> list[Event]:
    stream = provider.stream(chat)
    try:
        return [event async for event in stream]
    finally:
        await stream.aclose()
