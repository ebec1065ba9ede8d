"""Client keys: made with high entropy, stored only as a digest, shown only as a mask."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "sk-pool-"


def new_key() -> str:
    """`sk-pool-` and 256 random bits: a digest of it cannot be reversed by guessing."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    """What the store keeps instead of the key (SHA-256 is enough for a random 256-bit key)."""
    return hashlib.sha256(key.encode()).hexdigest()


def mask(key: str) -> str:
    """`sk-pool-…x7Qa`: enough to tell keys apart in a list, useless to call with."""
    head = PREFIX if key.startswith(PREFIX) else key[:3]
    return f"{head}…{key[-4:]}" if len(key) > 12 else "…"
