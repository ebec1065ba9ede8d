"""Anthropic's non-stream message, error envelope and model list, built from domain values."""

from __future__ import annotations

import orjson
import pytest

from proxy.core.errors import ErrorKind, GatewayError
from proxy.core.events import Reply, ToolCall, Usage
from proxy.doors.anthropic.errors import error_response
from proxy.doors.anthropic.models import model_page
from proxy.doors.anthropic.reply import message_json
from proxy.doors.anthropic.request import MessagesRequest, parse_messages


def request(**extra: object) -> MessagesRequest:
    body = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
    return parse_messages(orjson.dumps({**body, **extra}), {})


def test_a_reply_with_text_and_calls_is_one_message_with_tool_use_stop() -> None:
    reply = Reply(
        text="Checking.",
        tool_calls=[ToolCall("call_1", "Read", '{"path": "a.py"}'), ToolCall("call_2", "Bash", "not json")],
        finish="stop",
        usage=Usage(prompt_tokens=812, completion_tokens=41, cached_tokens=12),
    )
    message = message_json(request(), reply)
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == (
        "message",
        "assistant",
        "claude-haiku-4-5",
    )
    assert message["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "Read", "input": {"path": "a.py"}},
        {"type": "tool_use", "id": "call_2", "name": "Bash", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 800,
        "output_tokens": 41,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 12,
    }


def test_a_reply_shows_thinking_only_when_asked() -> None:
    reply = Reply(text="4", reasoning="2+2", finish="length")
    plain = message_json(request(), reply)
    assert plain["content"] == [{"type": "text", "text": "4"}]
    assert plain["stop_reason"] == "max_tokens"
    assert plain["usage"]["input_tokens"] > 0  # estimated when the upstream reported none
    shown = message_json(request(thinking={"type": "enabled", "budget_tokens": 2048}), reply)
    assert shown["content"][0] == {"type": "thinking", "thinking": "2+2", "signature": ""}


def test_tool_calls_finish_without_calls_is_end_turn() -> None:
    assert message_json(request(), Reply(text="done", finish="tool_calls"))["stop_reason"] == "end_turn"


def render(error: GatewayError) -> tuple[int, dict[str, object], dict[str, str]]:
    response = error_response(error, {"X-Request-ID": "r1"})
    assert response.body is not None
    return response.status, orjson.loads(response.body), dict(response.headers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "status", "type_"),
    [
        (
            GatewayError(400, ErrorKind.INVALID_REQUEST, "max_tokens: Field required"),
            400,
            "invalid_request_error",
        ),
        (GatewayError(401, ErrorKind.AUTHENTICATION, "Invalid API key."), 401, "authentication_error"),
        (GatewayError(403, ErrorKind.PERMISSION, "Not for you."), 403, "permission_error"),
        (GatewayError(404, ErrorKind.NOT_FOUND, "No such model."), 404, "not_found_error"),
        (GatewayError(413, ErrorKind.TOO_LARGE, "Too big."), 413, "request_too_large"),
        (GatewayError(429, ErrorKind.RATE_LIMITED, "Slow down.", retry_after=1.2), 429, "rate_limit_error"),
        (GatewayError(429, ErrorKind.QUOTA, "All exhausted.", retry_after=30), 429, "rate_limit_error"),
        (GatewayError(503, ErrorKind.UNAVAILABLE, "All cooling.", retry_after=4), 529, "overloaded_error"),
        (GatewayError(502, ErrorKind.UPSTREAM, "Upstream failed."), 502, "api_error"),
        (GatewayError(504, ErrorKind.TIMEOUT, "Upstream timed out."), 504, "api_error"),
        (GatewayError(422, ErrorKind.UPSTREAM_CLIENT, "Bad schema."), 422, "invalid_request_error"),
    ],
)
def test_errors_use_anthropic_envelope_and_statuses(error: GatewayError, status: int, type_: str) -> None:
    got_status, body, headers = render(error)
    assert got_status == status
    assert body == {"type": "error", "error": {"type": type_, "message": error.message}}
    assert headers["X-Request-ID"] == "r1"
    if error.retry_after is not None:
        assert int(headers["retry-after"]) >= 1


def test_a_wrong_key_tells_clients_not_to_retry() -> None:
    _, _, headers = render(GatewayError(401, ErrorKind.AUTHENTICATION, "Invalid API key."))
    assert headers["x-should-retry"] == "false"


def test_retry_after_is_whole_seconds_and_far_resets_are_not_retried() -> None:
    _, _, near = render(GatewayError(429, ErrorKind.QUOTA, "Exhausted.", retry_after=1.2))
    assert near["retry-after"] == "2" and "x-should-retry" not in near
    _, _, far = render(GatewayError(429, ErrorKind.QUOTA, "Exhausted.", retry_after=3600))
    assert far["retry-after"] == "3600" and far["x-should-retry"] == "false"


def upstream_400(message: str, code: str | None = None) -> GatewayError:
    envelope = {
        "error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": code}
    }
    return GatewayError(400, ErrorKind.UPSTREAM_CLIENT, message, upstream=envelope)


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        (
            "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            "130532 tokens. Please reduce the length of the messages.",
            "prompt is too long: 130532 tokens > 128000 maximum",
        ),
        (
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
            "(4000 in the messages, 1000 in the completion).",
            "input length and `max_tokens` exceed context limit: 4000 + 1000 > 4096, "
            "decrease input length or `max_tokens` and try again",
        ),
        (
            "This model's maximum context length is 4096 tokens. However, you requested 6000 tokens "
            "(5000 in the messages, 1000 in the completion).",
            "prompt is too long: 5000 tokens > 4096 maximum",
        ),
        ("Input exceeds the context window.", "prompt is too long: Input exceeds the context window."),
    ],
)
def test_upstream_context_errors_keep_the_wording_claude_code_compacts_on(
    upstream: str, expected: str
) -> None:
    status, body, _ = render(upstream_400(upstream, "context_length_exceeded"))
    assert status == 400
    assert body == {"type": "error", "error": {"type": "invalid_request_error", "message": expected}}


def test_other_upstream_client_errors_pass_their_message() -> None:
    _, body, _ = render(upstream_400("Invalid schema for function 'Read'."))
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "Invalid schema for function 'Read'.",
    }


def test_model_list_in_anthropic_shape_pages_by_id() -> None:
    models = ["gpt-4o", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o-mini"]
    page = model_page(models, 1767225600, {"limit": "2"})
    assert page["data"] == [
        {
            "type": "model",
            "id": "claude-haiku-4-5",
            "display_name": "claude-haiku-4-5",
            "created_at": "2026-01-01T00:00:00Z",
        },
        {
            "type": "model",
            "id": "claude-sonnet-4-5",
            "display_name": "claude-sonnet-4-5",
            "created_at": "2026-01-01T00:00:00Z",
        },
    ]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (
        True,
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
    )
    rest = model_page(models, 0, {"limit": "2", "after_id": "claude-sonnet-4-5"})
    assert [m["id"] for m in rest["data"]] == ["gpt-4o", "gpt-4o-mini"] and rest["has_more"] is False
    before = model_page(models, 0, {"before_id": "gpt-4o-mini", "limit": "1"})
    assert [m["id"] for m in before["data"]] == ["gpt-4o"] and before["has_more"] is True
    assert model_page([], 0, {}) == {"data": [], "has_more": False, "first_id": None, "last_id": None}
