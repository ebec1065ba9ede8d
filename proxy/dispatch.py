"""Failover: try accounts one after another while nothing has reached the client.

The HTTP layer calls `complete` or `open_stream`; both return once an account has
produced an answer (or its first content), or raise the `GatewayError` to answer with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from proxy.core.admission import ClientQuota, ClientWindow, Sticky
from proxy.core.errors import GatewayError
from proxy.core.events import Event, Reply, Usage
from proxy.errors import (
    invalid_request,
    model_not_found,
    upstream_client_error,
    upstream_error,
    upstream_timeout,
)
from proxy.outcome import OK, Outcome, OutcomeKind, UpstreamError, transient
from proxy.pool.fallbacks import Fallbacks
from proxy.pool.manager import Account, AccountManager, Granted, NoMoreAccounts
from proxy.pool.sticky import sticky_for
from proxy.request import ChatRequest
from proxy.tools.emulated import ChatProvider
from proxy.tools.policy import calls_tools, route

T = TypeVar("T")
NONE_TRIED: frozenset[str] = frozenset()


class Trace:
    """What happened on the way, for the request log, headers and metrics (a plain class:
    one is made per request, and a dataclass's default factories cost more)."""

    __slots__ = (
        "account",
        "attempts",
        "client_window",
        "dropped_tools",
        "emulated_tools",
        "fallback",
        "granted",
        "request_id",
        "upstream_seconds",
    )

    def __init__(self, request_id: str | None = None) -> None:
        self.attempts: list[tuple[str, str]] = []  # (account, outcome)
        self.upstream_seconds = 0.0  # time spent waiting on upstreams (to first byte)
        self.dropped_tools = False
        self.emulated_tools = False  # the answer's tool calls were read from its text (proxy/tools)
        self.granted: Granted | None = None
        self.account: str | None = None  # the granted account's id
        self.client_window: ClientWindow | None = None  # the client's rate window, for the door's headers
        self.request_id = request_id  # for the log lines written below the door
        self.fallback: str | None = None  # the model that served instead of the one asked for

    def saw_window(self, window: ClientWindow | None) -> None:
        self.client_window = window


class Attempts:
    """One request's walk over its candidate accounts (a plain loop: no async generator
    left half-consumed on every request, which would cost a finaliser task each)."""

    __slots__ = ("accounts", "client", "cursor_key", "sticky", "trace", "tried")

    def __init__(
        self,
        cursor_key: str,
        accounts: tuple[Account, ...],
        client: ClientQuota | None,
        trace: Trace,
        sticky: Sticky | None = None,
    ) -> None:
        self.cursor_key = cursor_key
        self.accounts = accounts
        self.client = client
        self.trace = trace
        self.sticky = sticky
        self.tried: frozenset[str] = NONE_TRIED


@dataclass
class OpenStream:
    """A stream that has produced content: `head` (the events up to and including the first
    content event) is not yet sent; `rest` follows. The caller closes it and finishes the lease."""

    head: list[Event]
    rest: AsyncGenerator[Event, None]
    granted: Granted


class Dispatcher:
    def __init__(self, manager: AccountManager, fallbacks: dict[str, tuple[str, ...]] | None = None) -> None:
        self.manager = manager
        self.fallbacks = Fallbacks(fallbacks or {}, manager)

    def plan(self, request: ChatRequest) -> tuple[Account, ...]:
        """The accounts that may take this request, or the 4xx that says why none can."""
        serving = self.manager.serving(request.model)
        if not serving:
            raise model_not_found(request.requested_model)
        accounts = serving  # the cached tuple itself, unless a capability filter applies
        if request.needs.vision:
            accounts = tuple(a for a in accounts if a.provider.capabilities.vision)
            if not accounts:
                raise invalid_request(
                    f"No account serving '{request.requested_model}' accepts image inputs.",
                    "messages",
                )
        policy = self.manager.pool.unsupported_tools
        if request.needs.tools or (request.has_tools and policy == "reject"):
            accounts = tuple(a for a in accounts if calls_tools(a.provider.capabilities, policy))
            if not accounts:
                param = "tool_choice" if request.needs.tools else "tools"
                raise invalid_request(
                    f"No account serving '{request.requested_model}' can call tools; "
                    f"remove '{param}' or choose another model.",
                    param,
                )
        return accounts

    def _route(
        self, request: ChatRequest, account: Account, trace: Trace
    ) -> tuple[ChatProvider, ChatRequest]:
        """The provider and request for this attempt: tools native, emulated or dropped."""
        provider = account.provider
        if not request.has_tools:  # the common request: nothing for the tools policy to decide
            return provider, request
        policy = self.manager.pool.unsupported_tools
        chosen, routed, tools = route(
            request, provider, provider.capabilities, policy, request_id=trace.request_id
        )
        trace.dropped_tools = tools == "dropped"
        trace.emulated_tools = tools == "emulated"
        return chosen, routed

    async def _next(self, attempts: Attempts) -> Granted | None:
        """A lease on the next untried account, or None when none is left to try."""
        if len(attempts.tried) >= self.manager.pool.max_attempts:
            return None
        client = attempts.client
        if attempts.tried and client is not None:
            client = replace(client, take=False)  # failover is the gateway's cost, not the client's
        try:
            granted = await self.manager.acquire(
                attempts.cursor_key,
                attempts.accounts,
                client,
                attempts.tried,
                attempts.trace.saw_window,
                attempts.sticky,
            )
        except NoMoreAccounts:
            return None
        except GatewayError:
            if attempts.tried:
                return None  # the earlier failure explains more than "no account left"
            raise
        account_id = granted.lease.account_id
        attempts.tried |= {account_id}
        attempts.trace.granted, attempts.trace.account = granted, account_id
        if granted.client is not None:
            attempts.trace.client_window = granted.client
        return granted

    def _sticky(self, request: ChatRequest, client: ClientQuota | None) -> Sticky | None:
        return sticky_for(self.manager.pool.sticky, client.name if client else "", request)

    def complete(
        self,
        request: ChatRequest,
        client: ClientQuota | None,
        trace: Trace,
        *,
        may_use: Callable[[str], bool] | None = None,
    ) -> Awaitable[Reply]:
        """A non-streaming answer; on a model's fallback when every account of it rests.
        Not a coroutine itself: it hands back the one that does the work (one layer fewer)."""
        if not self.fallbacks.table:  # none configured: no fallback layer (two coroutines fewer)
            return self._complete(request, self.plan(request), client, trace)

        async def one(chat: ChatRequest, accounts: tuple[Account, ...], quota: ClientQuota | None) -> Reply:
            return await self._complete(chat, accounts, quota, trace)

        return self.fallbacks.run(request, self.plan, one, client, trace, may_use)

    def _complete(
        self, chat: ChatRequest, accounts: tuple[Account, ...], client: ClientQuota | None, trace: Trace
    ) -> Awaitable[Reply]:
        def call(account: Account) -> Awaitable[Reply]:
            provider, routed = self._route(chat, account, trace)
            return provider.complete(routed)

        sticky = self._sticky(chat, client)
        return self.run(chat.model, accounts, call, client, trace, sticky=sticky)

    async def run(
        self,
        cursor_key: str,
        accounts: tuple[Account, ...],
        call: Callable[[Account], Awaitable[T]],
        client: ClientQuota | None,
        trace: Trace,
        *,
        sticky: Sticky | None = None,
    ) -> T:
        """`call` on one account after another until one succeeds (any non-streaming call)."""
        last: UpstreamError | None = None
        attempts = Attempts(cursor_key, accounts, client, trace, sticky)
        while (granted := await self._next(attempts)) is not None:
            started = time.perf_counter()
            outcome: Outcome | None = None
            try:
                result = await call(granted.account)
                outcome = OK
                return result
            except UpstreamError as exc:
                outcome, last = exc.outcome, exc
                _raise_if_client_error(exc)
            finally:
                trace.upstream_seconds += time.perf_counter() - started
                trace.attempts.append((granted.lease.account_id, outcome.kind if outcome else "aborted"))
                await self.manager.finish(granted, outcome)
        raise self.manager.unavailable(attempts.accounts) or _final_error(last)

    def open_stream(
        self,
        request: ChatRequest,
        client: ClientQuota | None,
        trace: Trace,
        *,
        may_use: Callable[[str], bool] | None = None,
    ) -> Awaitable[OpenStream]:
        """A stream that produced content; on a model's fallback when every account of it rests.
        Not a coroutine itself: it hands back the one that does the work (one layer fewer)."""
        if not self.fallbacks.table:  # none configured: no fallback layer (two coroutines fewer)
            sticky = self._sticky(request, client)
            return self._open_stream(request, self.plan(request), client, trace, sticky)

        async def one(
            chat: ChatRequest, accounts: tuple[Account, ...], quota: ClientQuota | None
        ) -> OpenStream:
            sticky = self._sticky(chat, client)
            return await self._open_stream(chat, accounts, quota, trace, sticky)

        return self.fallbacks.run(request, self.plan, one, client, trace, may_use)

    async def _open_stream(
        self,
        request: ChatRequest,
        accounts: tuple[Account, ...],
        client: ClientQuota | None,
        trace: Trace,
        sticky: Sticky | None,
    ) -> OpenStream:
        """The first account whose stream produced content (a `Usage` alone is none)."""
        last: UpstreamError | None = None
        timeout = self.manager.pool.first_byte_timeout
        attempts = Attempts(request.model, accounts, client, trace, sticky)
        while (granted := await self._next(attempts)) is not None:
            provider, routed = self._route(request, granted.account, trace)
            events = provider.stream(routed)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):  # StopAsyncIteration if no content comes
                    head = [await anext(events)]
                    while isinstance(head[-1], Usage):  # a usage alone is no content
                        head.append(await anext(events))
            except (UpstreamError, TimeoutError, StopAsyncIteration) as exc:
                error = exc if isinstance(exc, UpstreamError) else _no_first_byte(exc)
                last = error
                trace.attempts.append((granted.lease.account_id, error.outcome.kind))
                await events.aclose()
                await self.manager.finish(granted, error.outcome)
                _raise_if_client_error(error)
                continue
            except BaseException:
                await events.aclose()
                await self.manager.finish(granted, None)
                raise
            finally:
                trace.upstream_seconds += time.perf_counter() - started
            trace.attempts.append((granted.lease.account_id, "streaming"))
            return OpenStream(head, events, granted)
        raise self.manager.unavailable(attempts.accounts) or _final_error(last)


def _no_first_byte(exc: BaseException) -> UpstreamError:
    if isinstance(exc, TimeoutError):
        return transient("no first byte within first_byte_timeout", timeout=True)
    return transient("upstream stream ended without content")


def _raise_if_client_error(exc: UpstreamError) -> None:
    if exc.outcome.kind is OutcomeKind.CLIENT_ERROR:
        raise upstream_client_error(exc.status, exc.outcome.reason, exc.body)


def _final_error(last: UpstreamError | None) -> GatewayError:
    """The answer after every attempt failed while some account still looks usable."""
    if last is None:
        return upstream_error("No account could take the request.")
    reason = last.outcome.reason or last.outcome.kind.value
    if last.outcome.timeout:
        return upstream_timeout(f"The upstream timed out ({reason}).")
    return upstream_error(f"The upstream failed on every attempt; last: {reason}.")


def attempts_summary(attempts: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{account}:{outcome}" for account, outcome in attempts]
