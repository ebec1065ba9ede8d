"""`openai`: any OpenAI-compatible service, relayed with as little work as possible.

Non-streaming bodies are returned byte for byte. Streams are relayed in the blocks
the upstream sends, split only at event boundaries; the gateway always asks the
upstream for usage and drops the usage chunk again when the client did not ask.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from proxy.config import AccountConfig
from proxy.godur import parse_go_duration
from proxy.outcome import (
    UpstreamError,
    auth_failed,
    client_error,
    quota_exhausted,
    rate_limited,
    transient,
)
from proxy.providers.base import Capabilities, Provider, ProviderContext, Reply, StreamSink, Usage
from proxy.providers.transport import read_timeout, transport_errors
from proxy.request import ChatRequest

log = logging.getLogger("pool_proxy.provider.openai")

_QUOTA_CODES = ("insufficient_quota", "billing_hard_limit_reached", "quota_exceeded")
_QUOTA_TEXTS = ("insufficient_quota", "exceeded your current quota", "credit", "billing")
_AUTH_CODES = ("invalid_api_key", "account_deactivated", "invalid_authentication")
_BANNED_TEXTS = ("access was terminated", "account has been deactivated", "account_deactivated")
_CLIENT_STATUSES = (400, 404, 413, 415, 422)


class OpenAIProvider(Provider):
    kind = "openai"
    capabilities = Capabilities(tools=True, vision=True, images=False)
    passthrough = True

    def __init__(self, account: AccountConfig, ctx: ProviderContext) -> None:
        super().__init__(account, ctx)
        self._url = f"{account.base_url}/chat/completions"
        self._auth = {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}
        self._timeouts = {  # built once: the hot path allocates no timeout objects
            False: read_timeout(ctx.pool.first_byte_timeout),
            True: read_timeout(ctx.pool.stream_idle_timeout),
        }

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
                timeout=self._timeouts[stream],
            )

    async def complete(self, request: ChatRequest) -> Reply:
        resp = await self._post(request, stream=False)
        try:
            with transport_errors("upstream", "read"):
                data = await resp.read()
        finally:
            resp.release()
        if resp.status != 200:
            raise classify(resp.status, resp.headers, data, self.ctx.clock.now())
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise transient("upstream answered 200 with a body that is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                raise classify(502, resp.headers, data, self.ctx.clock.now())
            raise transient("upstream answered 200 without choices")
        return Reply(data, usage_of(body.get("usage")), text=_answer_text(body))

    async def stream(self, request: ChatRequest, sink: StreamSink) -> AsyncGenerator[bytes, None]:
        resp = await self._post(request, stream=True)
        clean = False
        try:
            if resp.status != 200:
                raise classify(resp.status, resp.headers, await resp.read(), self.ctx.clock.now())
            strip_usage = not request.include_usage
            pending = b""
            sent = False
            async for block in resp.content.iter_any():
                pending += block
                cut = _boundary(pending)
                if cut < 0:
                    continue
                events, pending = pending[:cut], pending[cut:]
                if not sent:
                    _check_first(events, self.ctx.clock.now())
                if b'"usage":{' in events or sink.collect_text:
                    events = _inspect(events, sink, strip_usage)
                if events:
                    sent = True
                    yield events
            if pending.strip():
                sent = True
                yield pending if pending.endswith(b"\n\n") else pending + b"\n\n"
            if not sent:
                raise transient("upstream stream ended without content")
            clean = True
        except TimeoutError:
            raise transient("upstream stream stalled", timeout=True) from None
        except aiohttp.ClientError as exc:
            raise transient(f"upstream stream broke: {type(exc).__name__}") from None
        finally:
            if clean:
                resp.release()
            else:
                resp.close()  # drop the connection: the upstream stops generating


def _boundary(data: bytes) -> int:
    """Index just past the last complete SSE event in `data`, or -1."""
    cut = data.rfind(b"\n\n")
    if cut >= 0:
        return cut + 2
    cut = data.rfind(b"\r\n\r\n")
    return cut + 4 if cut >= 0 else -1


def _check_first(events: bytes, now: float) -> None:
    """An upstream that opens a 200 stream with an error event still gets classified."""
    if b'"error"' not in events[:2048]:
        return
    for line in events.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                payload = orjson.loads(line[5:].strip())
            except orjson.JSONDecodeError:
                return
            if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                raise classify(502, {}, orjson.dumps(payload), now)
            return


def _inspect(events: bytes, sink: StreamSink, strip_usage: bool) -> bytes:
    """Read usage (and text, when logging bodies); drop the usage-only chunk if unasked.

    Only events that can hold what is wanted are parsed: a stream's content chunks
    pass through as the bytes they arrived as.
    """
    if not sink.collect_text:
        return _take_usage(events, sink, strip_usage)
    kept = []
    for event in events.split(b"\n\n"):
        if not event.strip():
            continue
        has_usage = b'"usage":{' in event
        if has_usage or (sink.collect_text and b'"content"' in event):
            payload = _payload(event)
            if payload is not None:
                usage = usage_of(payload.get("usage")) if has_usage else None
                if usage is not None:
                    sink.usage = usage
                    if strip_usage and not payload.get("choices"):
                        continue
                if sink.collect_text:
                    sink.text.extend(_delta_texts(payload))
        kept.append(event + b"\n\n")
    return b"".join(kept)


def _take_usage(events: bytes, sink: StreamSink, strip_usage: bool) -> bytes:
    """The usage event(s) found by search, not by splitting every event."""
    at = events.find(b'"usage":{')
    while at >= 0:
        start = events.rfind(b"\n\n", 0, at)
        start = 0 if start < 0 else start + 2
        end = events.find(b"\n\n", at)
        end = len(events) if end < 0 else end + 2
        payload = _payload(events[start:end])
        usage = usage_of(payload.get("usage")) if payload is not None else None
        if payload is not None and usage is not None:
            sink.usage = usage
            if strip_usage and not payload.get("choices"):
                events = events[:start] + events[end:]
                end = start
        at = events.find(b'"usage":{', end)
    return events


def _payload(event: bytes) -> dict[str, Any] | None:
    line = event.strip()
    if not line.startswith(b"data:"):
        return None
    try:
        payload = orjson.loads(line[5:].strip())
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _delta_texts(payload: dict[str, Any]) -> list[str]:
    texts = []
    for choice in payload.get("choices") or ():
        content = (choice.get("delta") or {}).get("content") if isinstance(choice, dict) else None
        if isinstance(content, str):
            texts.append(content)
    return texts


def usage_of(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None


def _answer_text(body: dict[str, Any]) -> str:
    try:
        return str(body["choices"][0]["message"].get("content") or "")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


# -- classification: the one table of what each upstream answer means -------------------


def classify(status: int, headers: Any, data: bytes, now: float) -> UpstreamError:
    """Turn a failed upstream answer into the outcome the pool acts on (DESIGN §5)."""
    error = _error_of(data)
    code = str(error.get("code") or "")
    type_ = str(error.get("type") or "")
    message = str(error.get("message") or "")[:200]
    lowered = f"{code} {type_} {message}".lower()
    reason = f"HTTP {status}" + (f" {code or type_}" if code or type_ else "")
    if any(text in lowered for text in _BANNED_TEXTS) or code in _AUTH_CODES or status == 401:
        return auth_failed(reason)
    if status == 402 or code in _QUOTA_CODES or type_ in _QUOTA_CODES:
        return quota_exhausted(reason)
    if status in (403, 429) and any(text in lowered for text in _QUOTA_TEXTS):
        return quota_exhausted(reason)
    if status == 429:
        return rate_limited(reason, _retry_after(headers, now))
    if status == 403:
        return auth_failed(reason)
    if status in _CLIENT_STATUSES:
        body = {"error": {**_EMPTY_ERROR, **error}} if error else None
        return client_error(reason, status, body or _fallback_error(status, message))
    return transient(reason, timeout=status in (408, 504))


_EMPTY_ERROR = {"message": "", "type": "invalid_request_error", "param": None, "code": None}


def _fallback_error(status: int, message: str) -> dict[str, Any]:
    text = message or f"The upstream rejected the request (HTTP {status})."
    return {"error": {**_EMPTY_ERROR, "message": text}}


def _error_of(data: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"message": data[:200].decode("utf-8", "replace")} if data else {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]  # type: ignore[no-any-return]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return {"message": body["error"]}
    return {}


def _retry_after(headers: Any, now: float) -> float | None:
    """Seconds to rest from `Retry-After` (seconds or a date) or `x-ratelimit-reset-*`."""
    value = headers.get("Retry-After") if headers else None
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        raw = headers.get(name) if headers else None
        seconds = parse_go_duration(raw) if raw else None
        if seconds:
            return seconds
    return None


__all__ = ["OpenAIProvider", "classify", "usage_of"]
