"""The Responses door's request errors, as domain errors the OpenAI envelope renders."""

from __future__ import annotations

from proxy.core.errors import ErrorKind, GatewayError


def invalid(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, ErrorKind.INVALID_REQUEST, message, code="invalid_request", param=param)


def previous_response_not_found(response_id: str) -> GatewayError:
    """The gateway keeps no responses: clients send the whole history (Codex does, with store=false)."""
    return GatewayError(
        400,
        ErrorKind.INVALID_REQUEST,
        f"Previous response with id '{response_id}' not found. This gateway is stateless: "
        "send the conversation in 'input' instead of 'previous_response_id'.",
        code="previous_response_not_found",
        param="previous_response_id",
    )
