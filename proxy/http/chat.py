"""`POST /v1/chat/completions`: authenticate, validate, dispatch, answer or relay."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from aiohttp import web

from proxy.dispatch import OpenStream, Trace, attempts_summary
from proxy.errors import ApiError, envelope, model_not_allowed
from proxy.gateway import Client, Gateway
from proxy.http.auth import authenticate
from proxy.http.keys import GATEWAY, STREAMS
from proxy.http.middleware import cors_headers, request_id
from proxy.http.streams import EventStreamResponse
from proxy.outcome import OK, Outcome, UpstreamError
from proxy.pool.manager import rate_headers
from proxy.providers.base import Usage
from proxy.providers.chunks import DONE, estimate_usage, prompt_text, sse
from proxy.request import ChatRequest, parse_chat

access = logging.getLogger("pool_proxy.access")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


@dataclass
class Exchange:
    """One request's facts, gathered for its log line, metrics and usage counters."""

    started: float = field(default_factory=time.perf_counter)
    status: int = 200
    client: Client | None = None
    chat: ChatRequest | None = None
    trace: Trace = field(default_factory=Trace)
    first_byte: float | None = None
    overhead: float | None = None
    usage: Usage | None = None
    answer: str = ""
    error: str = ""


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    ex = Exchange()
    try:
        ex.client = authenticate(request, gateway)
        ex.chat = chat = parse_chat(await request.read(), gateway.config.model_aliases)
        if not ex.client.may_use(chat.requested_model, chat.model):
            raise model_not_allowed(chat.requested_model)
        chat.session = request.headers.get("x-session-id") or chat.session
        if chat.stream:
            return await _relay(request, gateway, ex)
        reply = await gateway.dispatcher.complete(chat, ex.client.quota, ex.trace, may_use=ex.client.may_use)
        ex.usage = reply.usage or estimate_usage(chat.messages, reply.text)
        ex.answer = reply.text
        ex.overhead = time.perf_counter() - ex.started - ex.trace.upstream_seconds
        return web.Response(body=reply.body, content_type="application/json", headers=_headers(ex))
    except ApiError as exc:
        ex.status, ex.error = exc.status, exc.message
        if ex.trace.granted is not None:
            exc.headers.update(rate_headers(ex.trace.granted.client))
        if ex.trace.attempts:  # an upstream was called: say what the gateway added to it
            ex.overhead = max(0.0, time.perf_counter() - ex.started - ex.trace.upstream_seconds)
            exc.headers["x-pool-proxy-overhead-ms"] = f"{ex.overhead * 1000:.2f}"
        raise
    except BaseException:
        ex.status = 499  # the client went away (or the gateway is stopping)
        raise
    finally:
        _done(gateway, request, ex)


def _headers(ex: Exchange) -> dict[str, str]:
    headers = rate_headers(ex.trace.granted.client if ex.trace.granted else None)
    if ex.overhead is not None:
        headers["x-pool-proxy-overhead-ms"] = f"{ex.overhead * 1000:.2f}"
    if ex.trace.account:
        headers["x-pool-proxy-account"] = ex.trace.account
    if ex.trace.dropped_tools:
        headers["x-pool-proxy-dropped"] = "tools"
    if ex.trace.fallback:
        headers["x-pool-proxy-fallback"] = ex.trace.fallback
    return headers


async def _relay(request: web.Request, gateway: Gateway, ex: Exchange) -> web.StreamResponse:
    """Hold the 200 until the first upstream content, then relay chunks as they come."""
    assert ex.client is not None and ex.chat is not None
    opened: OpenStream = await gateway.dispatcher.open_stream(
        ex.chat,
        ex.client.quota,
        ex.trace,
        collect_text=gateway.config.logging.log_bodies,
        may_use=ex.client.may_use,
    )
    streams = request.app[STREAMS]
    outcome: Outcome | None = None
    try:
        ex.first_byte = time.perf_counter() - ex.started
        ex.overhead = ex.first_byte - ex.trace.upstream_seconds
        response = EventStreamResponse(
            headers={
                **SSE_HEADERS,
                **_headers(ex),
                "X-Request-ID": request_id(request),
                **cors_headers(request, gateway.config.server.cors_origins),
            }
        )
        await response.prepare(request)
        stream = streams.add(response)
        try:
            await stream.write(opened.first)
            try:
                async for chunk in opened.rest:
                    await stream.write(chunk)
                outcome = OK
            except UpstreamError as exc:
                outcome = exc.outcome
                ex.error = f"stream broke: {exc.outcome.reason}"
                await stream.write(_error_event(exc) + DONE)
            await stream.finish()
        finally:
            streams.remove(stream)
        return response
    finally:
        await opened.rest.aclose()
        await gateway.manager.finish(opened.granted, outcome)
        ex.usage = opened.sink.usage or estimate_usage(ex.chat.messages, "".join(opened.sink.text))
        ex.answer = "".join(opened.sink.text)


def _error_event(exc: UpstreamError) -> bytes:
    message = f"The upstream failed mid-stream: {exc.outcome.reason or exc.outcome.kind}."
    return sse(envelope(message, "upstream_error", "upstream_error"))


def _done(gateway: Gateway, request: web.Request, ex: Exchange) -> None:
    """The request's log line, metrics and usage counters, in one place."""
    seconds = time.perf_counter() - ex.started
    chat, usage, trace = ex.chat, ex.usage, ex.trace
    model = chat.requested_model if chat else None
    client = ex.client.name if ex.client else None
    if gateway.metrics is not None:
        gateway.metrics.request("chat", ex.status, model, client, seconds, ex.first_byte, ex.overhead)
        if ex.status == 429 and trace.granted is None:
            gateway.metrics.rejections.labels("client" if ex.client else "pool").inc()
    if client and chat is not None and (trace.attempts or ex.status < 400):
        gateway.record(
            client,
            trace.account,
            chat.requested_model,
            ex.status < 400 and not ex.error,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            usage.estimated if usage else False,
        )
    if not access.isEnabledFor(logging.INFO):
        return
    entry: dict[str, object] = {
        "request_id": request_id(request),
        "client": client,
        "model": model,
        "account": trace.account,
        "attempts": attempts_summary(trace.attempts),
        "status": ex.status,
        "stream": bool(chat and chat.stream),
        "latency_ms": round(seconds * 1000, 2),
        "first_byte_ms": round(ex.first_byte * 1000, 2) if ex.first_byte is not None else None,
        "overhead_ms": round(ex.overhead * 1000, 3) if ex.overhead is not None else None,
    }
    if usage is not None:
        entry.update(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            tokens_estimated=usage.estimated,
        )
    if ex.error:
        entry["error"] = ex.error
    if gateway.config.logging.log_bodies and chat is not None:
        limit = gateway.config.logging.body_max
        entry["prompt"] = prompt_text(chat.messages)[-limit:]
        entry["answer"] = ex.answer[:limit]
    access.info("request", extra=entry)
