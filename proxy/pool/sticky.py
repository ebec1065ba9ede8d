"""Sticky conversations (`pool.sticky`): the requests of one conversation go to the account
that served its start, so upstream prompt caches hit and web sessions keep their thread.

The conversation's key is the client's own session id when it sends one (`x-session-id`,
`prompt_cache_key`, Anthropic's `metadata.user_id`), else a digest of the client, the
system prompt and the first user message: every turn of a chat repeats those, so even
its first request already has the key. Which account a key maps to lives in the
StateStore's admission (shared by replicas with Redis).
"""

from __future__ import annotations

import hashlib
import re

from proxy.config.model import StickyConfig
from proxy.core.admission import Sticky
from proxy.request import ChatRequest, text_of

SYSTEM_ROLES = ("system", "developer")
_SESSION_PART = re.compile(r"session_([0-9A-Za-z-]+)")


def anthropic_session(user_id: str | None) -> str | None:
    """The conversation in Anthropic's `metadata.user_id`: Claude Code sends
    `user_<hash>_account_<uuid>_session_<uuid>`, whose session part changes per chat;
    any other value is taken whole."""
    if not user_id:
        return None
    found = _SESSION_PART.search(user_id)
    return found.group(1) if found else user_id


def conversation_key(client: str, request: ChatRequest) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(client.encode() + b"\0")
    if request.session:
        digest.update(b"session\0" + request.session.encode())
        return digest.hexdigest()
    first_user = ""
    for message in request.messages:
        role = message.get("role")
        if role in SYSTEM_ROLES:
            digest.update(b"system\0" + text_of(message).encode() + b"\0")
        elif role == "user":
            first_user = text_of(message)
            break
    digest.update(b"user\0" + first_user.encode())
    return digest.hexdigest()


def sticky_for(config: StickyConfig, client: str, request: ChatRequest) -> Sticky | None:
    """The admission's sticky hint for this request, or None when sticking is off."""
    if not config.enabled:
        return None
    return Sticky(conversation_key(client, request), config.ttl)
