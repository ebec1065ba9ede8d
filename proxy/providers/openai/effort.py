"""Reasoning effort for upstream models that refuse the parameter.

Agents ask for effort on every call (Claude Code's thinking, Codex's `reasoning`), and
the doors send it as `reasoning_effort`; OpenAI's gpt-4o family and many compatible
services answer that with a 400 ("Unrecognized request argument supplied"). Such a
400 is the model's trait, not the client's mistake nor the account's fault: the call is
sent again once without the field, and the (account, model) pair is remembered so
later calls leave it out up front.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import replace

from proxy.providers.openai.signals import error_of
from proxy.request import ChatRequest

log = logging.getLogger("pool_proxy.provider.openai")

FIELDS = ("reasoning_effort", "reasoning")
MAX_MODELS = 256  # per account: a client may name any model on an open table

# What a refusal of the parameter itself says (not of one of its values).
_REFUSED = re.compile(
    r"unrecogni[sz]ed|unsupported.param|unknown.(?:param|field|argument|name)|unexpected"
    r"|not (?:supported|permitted|allowed)|extra.(?:inputs|fields|forbidden)",
    re.IGNORECASE,
)
_NAMED = {name: re.compile(rf"(?<![\w.]){name}(?!\w)") for name in FIELDS}


def refused_field(status: int, data: bytes, request: ChatRequest) -> str | None:
    """The effort field of `request` that a 400 answer says the model does not accept."""
    if status != 400:
        return None
    sent = [name for name in FIELDS if name in request.body]
    if not sent:
        return None
    error = error_of(data)
    param = str(error.get("param") or "")
    said = f"{error.get('code') or ''} {error.get('message') or ''}"
    if not error.get("message"):  # another envelope (a validation `detail` list): read it whole
        said = data[:2048].decode("utf-8", "replace")
    if not _REFUSED.search(said):
        return None
    for name in sent:
        if param == name or _NAMED[name].search(said):
            return name
    return None


def without(request: ChatRequest, fields: frozenset[str]) -> ChatRequest:
    """The same request with `fields` left out of the body (its cached views dropped)."""
    body = {key: value for key, value in request.body.items() if key not in fields}
    return replace(request, body=body, raw=b"", _cache={})


class EffortMemory:
    """One account's models that refuse an effort field; least recently seen forgotten."""

    __slots__ = ("_account", "_refused")

    def __init__(self, account: str) -> None:
        self._account = account
        self._refused: OrderedDict[str, frozenset[str]] = OrderedDict()

    def prepare(self, request: ChatRequest) -> ChatRequest:
        """`request` as this account's model accepts it (itself when nothing to drop)."""
        body = request.body
        if "reasoning_effort" not in body and "reasoning" not in body:
            return request  # the common case costs two lookups
        fields = self._refused.get(request.model)
        if fields is None:
            return request
        self._refused.move_to_end(request.model)
        return without(request, fields) if any(name in body for name in fields) else request

    def retry(self, request: ChatRequest, status: int, data: bytes) -> ChatRequest | None:
        """The request to send again when the answer refused an effort field, else None."""
        name = refused_field(status, data, request)
        if name is None:
            return None
        fields = self._refused.get(request.model, frozenset()) | {name}
        self._refused[request.model] = fields
        self._refused.move_to_end(request.model)
        while len(self._refused) > MAX_MODELS:
            self._refused.popitem(last=False)
        log.info(
            "upstream model refuses %s; sending it without",
            name,
            extra={"account": self._account, "model": request.model},
        )
        return without(request, frozenset({name}))

    def __len__(self) -> int:
        return len(self._refused)
