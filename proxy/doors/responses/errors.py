"""The Responses door's request errors, as domain errors the OpenAI envelope renders."""

from __future__ import annotations

from proxy.core.errors import ErrorKind, GatewayError
from proxy.errors import invalid_request as invalid

__all__ = ["invalid", "previous_response_not_found"]


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
