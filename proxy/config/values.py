"""Scalar value syntax used in the config: durations, sizes, `${ENV}` references."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|kib|mib|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like `500ms`, `30s`, `5m`, `24h`."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("must be a duration such as 30s, 5m or 1h")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from a number or a string like `20MB`, `512k`."""
    if isinstance(value, bool):
        raise ValueError("must be a size such as 20MB")
    if isinstance(value, int | float):
        size = float(value)
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError("must be a size such as 512KB or 20MB")
        unit = match.group(2).lower() if match.group(2) else None
        size = float(match.group(1)) * _SIZE_UNITS[unit]
    if size <= 0:
        raise ValueError("must be a positive size")
    return int(size)


class MissingEnv(ValueError):
    """A `${VAR}` reference without a default named an unset variable."""


def interpolate(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace `${VAR}` and `${VAR:-default}`; an unset VAR without default is an error."""
    source = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in source:
            return source[name]
        if default is not None:
            return default
        raise MissingEnv(f"environment variable {name} is not set")

    return _ENV_REF.sub(replace, text)


_SECRET_PARAM = re.compile(r"key|token|secret|sig|pass|auth|cred", re.IGNORECASE)


def url_secrets(url: str | None) -> list[str]:
    """Credentials a URL carries: its password and key-like query values (`?api_key=…`)."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if v and _SECRET_PARAM.search(k)]
    return found


def mask(secret: str | None) -> str:
    """A recognisable but useless form of a secret: `sess…9f`."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "…" + secret[-1:] if len(secret) > 4 else "…"
    return f"{secret[:4]}…{secret[-2:]}"
