"""Field errors named the way Anthropic's API names them (`messages.0.content.1.type`)."""

from __future__ import annotations

from typing import Any

from proxy.errors import invalid_request


def bad(path: str, problem: str) -> Exception:
    """A 400 that names the field, rendered later in whatever envelope the door uses."""
    return invalid_request(f"{path}: {problem}", path)


def number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(name, f"must be a number between {low:g} and {high:g}")
    return value


def positive_int(body: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad(name, "Field required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(name, "must be a positive integer")
    return value
