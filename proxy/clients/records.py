"""The runtime client record: what `POST/PATCH /admin/clients` may set, checked like config.

The admin API's body goes through the config's own `Reader`, so `budget.period: must be
one of day, month` reads the same in a 400 as in `pool-proxy check`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from proxy.config import budgets
from proxy.config.load import rate_limit
from proxy.config.model import Budget, RateLimit
from proxy.config.reader import Reader
from proxy.state.ledgers import Record

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
EDITABLE = ("models", "rate_limit", "budget", "expires_at", "note")
NOTE_MAX = 500


class Invalid(ValueError):
    """The body is wrong; `errors` name each field (`budget.period: must be …`)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors

    @property
    def param(self) -> str:
        return self.errors[0].split(":", 1)[0]


@dataclass(frozen=True)
class Settings:
    rate_limit: RateLimit | None
    budget: Budget | None
    expires_at: float | None


def settings(record: Record) -> Settings:
    """The typed limits of a stored record (it was checked when written)."""
    errors: list[str] = []
    r = Reader({k: record.get(k) for k in ("rate_limit", "budget")}, "", errors)
    found = Settings(rate_limit(r, "rate_limit"), budgets.budget(r), _float(record.get("expires_at")))
    return found


def changes(body: object, *, creating: bool) -> dict[str, Any]:
    """The fields a create or update sets, as they will be stored; raises `Invalid`."""
    errors: list[str] = []
    r = Reader(body, "", errors)
    out: dict[str, Any] = {}
    if creating:
        name = r.text("name", required=True) or ""
        if name and not NAME.match(name):
            r.error("name", "must be 1-64 letters, digits or _ . @ - (starting with a letter or digit)")
        out["name"] = name
    for field in EDITABLE:
        if field in r.raw:
            out[field] = _field(r, field)
    r.done()
    if errors:
        raise Invalid(errors)
    return out


def _field(r: Reader, field: str) -> Any:
    raw = r.raw.get(field)
    if raw is None:
        r.seen.add(field)
        return None  # null clears: every model, no limit, no budget, never expires
    if field == "models":
        models = r.str_list("models")
        return list(models) if models is not None else None
    if field == "rate_limit":
        rate_limit(r, "rate_limit")
        return raw
    if field == "budget":
        found = budgets.budget(r)
        return {"period": found.period, **found.limits()} if found else None
    if field == "expires_at":
        return budgets.expires_at(r)
    note = r.text("note", "") or ""
    if len(note) > NOTE_MAX:
        r.error("note", f"must be at most {NOTE_MAX} characters")
    return note


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
