"""A client of the gateway as a request sees it, from the config file or a runtime record."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Literal

from proxy.clients.records import settings
from proxy.config.model import Budget, ClientConfig, RateLimit
from proxy.core.admission import ClientQuota
from proxy.state.ledgers import Record

Source = Literal["config", "runtime"]


@dataclass(frozen=True)
class Client:
    name: str
    quota: ClientQuota
    allowed: re.Pattern[str] | None
    source: Source = "config"
    models: tuple[str, ...] | None = None
    budget: Budget | None = None
    expires_at: float | None = None
    disabled: bool = False
    note: str = ""
    mask: str = ""
    created_at: float | None = None
    updated_at: float | None = None

    @property
    def rate_limit(self) -> RateLimit | None:
        return self.quota.limit

    def may_use(self, *models: str) -> bool:
        return self.allowed is None or any(self.allowed.fullmatch(m) for m in models)

    def refusal(self, now: float) -> str | None:
        """Why this key may not be used now (the 401's message), or None."""
        if self.disabled:
            return "This API key is disabled; ask the gateway's admin to enable it."
        if self.expires_at is not None and self.expires_at <= now:
            return "This API key has expired; ask the gateway's admin for a new one."
        return None


def allow_list(models: tuple[str, ...] | None) -> re.Pattern[str] | None:
    if models is None:
        return None
    return re.compile("|".join(fnmatch.translate(p) for p in models) or "$^")


def from_config(c: ClientConfig, key_mask: str) -> Client:
    return Client(
        name=c.name,
        quota=ClientQuota(c.name, c.rate_limit),
        allowed=allow_list(c.models),
        models=c.models,
        budget=c.budget,
        expires_at=c.expires_at,
        mask=key_mask,
    )


def from_record(record: Record) -> Client:
    """A runtime client from its stored record (written by `proxy.clients.records`)."""
    s = settings(record)
    models = tuple(record["models"]) if record.get("models") is not None else None
    return Client(
        name=str(record["name"]),
        quota=ClientQuota(str(record["name"]), s.rate_limit),
        allowed=allow_list(models),
        source="runtime",
        models=models,
        budget=s.budget,
        expires_at=s.expires_at,
        disabled=bool(record.get("disabled")),
        note=str(record.get("note") or ""),
        mask=str(record.get("mask") or ""),
        created_at=_float(record.get("created_at")),
        updated_at=_float(record.get("updated_at")),
    )


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
