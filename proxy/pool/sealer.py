"""Sealing operator-pasted credentials before they reach a snapshot file or Redis.

Only the standard library is at hand, so the cipher is HMAC-SHA256 in counter mode (a
keystream), authenticated by a second HMAC over nonce and ciphertext (encrypt-then-MAC).
The key is derived from a secret every replica shares (the admin key): a store's copy is
useless without it, and a wrong key is detected, never decrypted into garbage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

NONCE = 16
TAG = 32
VERSION = "s1."


class SealError(ValueError):
    """The sealed text is damaged or was sealed under another key."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), b"pool-proxy credential seal " + purpose, hashlib.sha256).digest()


class Sealer:
    def __init__(self, secret: str) -> None:
        self._enc = _derive(secret, b"enc")
        self._mac = _derive(secret, b"mac")

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        blocks = []
        for counter in range((length + 31) // 32):
            block = nonce + counter.to_bytes(8, "big")
            blocks.append(hmac.new(self._enc, block, hashlib.sha256).digest())
        return b"".join(blocks)[:length]

    def seal(self, plain: str) -> str:
        data = plain.encode()
        nonce = secrets.token_bytes(NONCE)
        cipher = bytes(a ^ b for a, b in zip(data, self._keystream(nonce, len(data)), strict=True))
        tag = hmac.new(self._mac, nonce + cipher, hashlib.sha256).digest()
        return VERSION + base64.urlsafe_b64encode(nonce + cipher + tag).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(VERSION):
            raise SealError("unknown seal format")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(VERSION) :].encode())
        except ValueError:
            raise SealError("damaged seal") from None
        if len(raw) < NONCE + TAG:
            raise SealError("damaged seal")
        nonce, cipher, tag = raw[:NONCE], raw[NONCE:-TAG], raw[-TAG:]
        if not hmac.compare_digest(tag, hmac.new(self._mac, nonce + cipher, hashlib.sha256).digest()):
            raise SealError("sealed under another key, or altered")
        plain = bytes(a ^ b for a, b in zip(cipher, self._keystream(nonce, len(cipher)), strict=True))
        return plain.decode()
