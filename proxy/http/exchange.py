"""One request through a door: its facts as they are learnt, and its single finish.

Every handler opens `with Exchange(request, door) as ex:` and fills in what it
learns (client, model, the trace of attempts, usage). Leaving the block — answered,
refused, broken or abandoned by the client — writes the access log line, the metrics
(labelled with the door's route) and the usage counters, once. A `GatewayError` that
leaves the block is rendered afterwards by the middleware through `ex.door`, with
`ex.headers()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType
from typing import Any

from aiohttp import web

from proxy.core.door import Door
from proxy.core.errors import ErrorKind, GatewayError
from proxy.core.events import Reply, Usage
from proxy.dispatch import Trace, attempts_summary
from proxy.gateway import Client, Gateway
from proxy.http.callers import CALLER
from proxy.http.keys import GATEWAY, REQUEST_ID
from proxy.providers.usage import estimate_usage, prompt_text
from proxy.request import ChatRequest

access = logging.getLogger("pool_proxy.access")

CLIENT_GONE = 499  # nginx's name for a request the client abandoned


class Exchange:
    __slots__ = (
        "answer",
        "chat",
        "client",
        "door",
        "error",
        "first_byte",
        "gateway",
        "kind",
        "model",
        "overhead",
        "refused",
        "request_id",
        "started",
        "status",
        "trace",
        "usage",
    )

    def __init__(self, request: web.Request, door: Door) -> None:
        self.started = time.perf_counter()
        self.request_id = request[REQUEST_ID]  # not the request: it holds this exchange
        self.door = door
        self.gateway: Gateway = request.app[GATEWAY]
        self.status = 200
        caller = request[CALLER]
        self.client: Client | None = caller.refused_client  # named in the log even if refused
        self.chat: ChatRequest | None = None
        self.model: str | None = None  # as the client named it
        self.trace = Trace(request_id=self.request_id)
        self.first_byte: float | None = None
        self.overhead: float | None = None  # seconds the gateway added to the upstream's time
        self.usage: Usage | None = None
        self.answer = ""  # collected only for the body log
        self.error = ""
        self.kind: ErrorKind | None = None
        self.refused = caller.refused is not None  # the callers step refused the key or its budget
        request[EXCHANGE] = self

    # A plain context manager: entering and leaving await nothing, and an async one would
    # cost two coroutines per request.
    def __enter__(self) -> Exchange:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            pass  # answered (a stream may still have been cut: the relay noted it)
        elif isinstance(exc, GatewayError):
            self.failed(exc)
        elif isinstance(exc, asyncio.CancelledError | ConnectionError):
            self.status = CLIENT_GONE  # the client went away (or the gateway is stopping)
        elif exc is not None:
            self.status, self.error = 500, f"internal error: {type(exc).__name__}"
        self.finish()

    def for_chat(self, chat: ChatRequest) -> None:
        self.chat, self.model = chat, chat.requested_model

    def failed(self, error: GatewayError) -> None:
        self.status, self.error, self.kind = error.status, error.message, error.kind

    def replied(self, reply: Reply) -> Usage:
        """A finished answer: its usage (estimated when the upstream gave none)."""
        self.usage = reply.usage or self._estimate(reply.text)
        self.answer = reply.text
        return self.usage

    def streaming(self) -> None:
        """The first content is about to leave: from here the gateway's share is known."""
        self.first_byte = time.perf_counter() - self.started
        self.overhead = self.first_byte - self.trace.upstream_seconds

    def streamed(self, usage: Usage | None, answer: str) -> None:
        self.answer = answer
        self.usage = usage or self._estimate(answer)

    def _estimate(self, answer: str) -> Usage:
        return estimate_usage(self.chat.messages if self.chat else [], answer)

    def headers(self) -> dict[str, str]:
        """What the gateway tells the client about this exchange, in any door's response."""
        headers = self.door.limit_headers(self.trace.client_window)
        self._measure()
        if self.overhead is not None:
            headers["x-pool-proxy-overhead-ms"] = f"{self.overhead * 1000:.2f}"
        if self.trace.account:
            headers["x-pool-proxy-account"] = self.trace.account
        if self.trace.dropped_tools:
            headers["x-pool-proxy-dropped"] = "tools"
        if self.trace.emulated_tools:
            headers["x-pool-proxy-tools"] = "emulated"
        if self.trace.fallback:
            headers["x-pool-proxy-fallback"] = self.trace.fallback
        return headers

    def _measure(self) -> None:
        if self.overhead is None and self.trace.attempts:  # an upstream was called
            spent = time.perf_counter() - self.started - self.trace.upstream_seconds
            self.overhead = max(0.0, spent)

    def finish(self) -> None:
        """The request's log line, metrics and usage counters, in one place."""
        seconds = time.perf_counter() - self.started
        self._measure()
        gateway, trace, usage = self.gateway, self.trace, self.usage
        client = self.client
        route = self.door.route
        if gateway.metrics is not None:
            gateway.metrics.request(
                route,
                self.status,
                self.model,
                client.name if client else None,
                seconds,
                self.first_byte,
                self.overhead,
            )
            if self.status == 429 and trace.granted is None:  # refused before any upstream call
                kind = "client" if self.kind is ErrorKind.RATE_LIMITED else "pool"
                if self.refused:
                    kind = "budget"  # the client's own budget, refused before the pool (callers.py)
                gateway.metrics.rejections.labels(kind).inc()
        if client and self.model and (trace.attempts or self.status < 400):
            gateway.record(
                client,
                trace.account,
                self.model,
                self.status < 400 and not self.error,
                usage.prompt_tokens if usage else 0,
                usage.completion_tokens if usage else 0,
                usage.estimated if usage else False,
                trace.fallback,
            )
        if access.isEnabledFor(logging.INFO):
            access.info("request", extra=self._log_entry(route, seconds))

    def _log_entry(self, route: str, seconds: float) -> dict[str, Any]:
        usage, chat = self.usage, self.chat
        entry: dict[str, Any] = {
            "request_id": self.request_id,
            "route": route,
            "client": self.client.name if self.client else None,
            "model": self.model,
            "account": self.trace.account,
            "attempts": attempts_summary(self.trace.attempts),
            "status": self.status,
            "stream": bool(chat and chat.stream),
            "latency_ms": round(seconds * 1000, 2),
            "first_byte_ms": round(self.first_byte * 1000, 2) if self.first_byte is not None else None,
            "overhead_ms": round(self.overhead * 1000, 3) if self.overhead is not None else None,
        }
        if usage is not None:
            entry.update(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                tokens_estimated=usage.estimated,
            )
        if self.error:
            entry["error"] = self.error
        logging_config = self.gateway.config.logging
        if logging_config.log_bodies and chat is not None:
            entry["prompt"] = prompt_text(chat.messages)[-logging_config.body_max :]
            entry["answer"] = self.answer[: logging_config.body_max]
        return entry


EXCHANGE = web.RequestKey("exchange", Exchange)
