"""The fake upstream's canned answers, and the checks that a reply carries them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MODEL = "gpt-4o-mini"
CLIENT_KEY = "sk-bench"
CHAT_ID = "chatcmpl-bench0000000000000000000001"
CREATED = 1_760_000_000
_SENTENCE = "The quick brown fox jumps over the lazy dog while the pool proxy relays every chunk as is"
WORDS = _SENTENCE.split()
CONTENT = " ".join(WORDS)
USAGE = {"prompt_tokens": 12, "completion_tokens": len(WORDS), "total_tokens": 12 + len(WORDS)}


def request_body(stream: bool, model: str = MODEL) -> dict[str, Any]:
    """The chat body every load generator sends."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say the canned sentence."}],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def messages_body(stream: bool, model: str = MODEL) -> dict[str, Any]:
    """The Anthropic `/v1/messages` body of the door scenarios: the same question."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say the canned sentence."}],
    }
    if stream:
        body["stream"] = True
    return body


def responses_body(stream: bool, model: str = MODEL) -> dict[str, Any]:
    """The OpenAI `/v1/responses` body of the door scenarios: the same question."""
    body: dict[str, Any] = {"model": model, "input": "Say the canned sentence.", "store": False}
    if stream:
        body["stream"] = True
    return body


def completion() -> dict[str, Any]:
    """A non-streaming `chat.completion` with CONTENT as the answer."""
    return {
        "id": CHAT_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CONTENT},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": CHAT_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [choice],
        "usage": None,
    }


def chunks() -> list[dict[str, Any]]:
    """Role chunk, one chunk per word, finish chunk, usage chunk: 21 events."""
    out = [_chunk({"role": "assistant", "content": ""})]
    out += [_chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(WORDS)]
    out.append(_chunk({}, finish="stop"))
    usage = _chunk({})
    usage["choices"] = []
    usage["usage"] = USAGE
    out.append(usage)
    return out


def sse_text() -> str:
    """The whole SSE body: one `data:` event per chunk, then `data: [DONE]`."""
    events = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in chunks()]
    return "".join(events) + "data: [DONE]\n\n"


def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "bench"}],
    }


def slow_chunk(index: int) -> dict[str, Any]:
    """One chunk of the slow upstream's never-ending answer (fresh `created` is fine)."""
    delta: dict[str, Any] = {"content": f"tick {index} "}
    if index == 0:
        delta["role"] = "assistant"
    chunk = _chunk(delta)
    chunk["created"] = int(time.time())
    return chunk


def content_of_completion(raw: bytes) -> str:
    """The answer text of a non-streaming reply."""
    return str(json.loads(raw)["choices"][0]["message"]["content"])


def content_of_stream(raw: bytes) -> str:
    """Concatenated delta contents of an SSE reply; raises if [DONE] is missing."""
    text, done = [], False
    for line in raw.decode().splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        for choice in json.loads(data).get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
    if not done:
        raise ValueError("stream ended without data: [DONE]")
    return "".join(text)


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of an `event:` + `data:` SSE reply (Anthropic, Responses)."""
    out, name = [], ""
    for line in raw.decode().splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            out.append((name, json.loads(line[5:])))
    return out


def content_of_messages(raw: bytes, stream: bool) -> str:
    """The answer text of a `/v1/messages` reply; a stream must end with message_stop."""
    if not stream:
        return "".join(b.get("text", "") for b in json.loads(raw)["content"] if b["type"] == "text")
    events = _events(raw)
    if not events or events[-1][0] != "message_stop":
        raise ValueError("stream ended without message_stop")
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    return "".join(d.get("text", "") for d in deltas if d["type"] == "text_delta")


def content_of_responses(raw: bytes, stream: bool) -> str:
    """The answer text of a `/v1/responses` reply; a stream must end with response.completed."""
    if stream:
        events = _events(raw)
        if not events or events[-1][0] != "response.completed":
            raise ValueError("stream ended without response.completed")
        text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
        done = events[-1][1]["response"]
        if _output_text(done) != text:
            raise ValueError("response.completed disagrees with the deltas")
        return text
    return _output_text(json.loads(raw))


def _output_text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


@dataclass(frozen=True)
class Door:
    """One of pool-proxy's doors as the bench drives it: path, body, answer check."""

    path: str
    body: Callable[[bool], dict[str, Any]]
    content: Callable[[bytes, bool], str]


DOORS = {
    "chat": Door(
        "/v1/chat/completions",
        request_body,
        lambda raw, stream: content_of_stream(raw) if stream else content_of_completion(raw),
    ),
    "messages": Door("/v1/messages", messages_body, content_of_messages),
    "responses": Door("/v1/responses", responses_body, content_of_responses),
}
