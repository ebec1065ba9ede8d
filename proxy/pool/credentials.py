"""Live credentials: an operator's pasted cookie or key, in force on every replica at once.

The replacement is kept sealed in the `StateStore` (so it outlives restarts) together
with the fingerprint of the config credential it replaced. While the config still holds
that credential, the replacement is in force; once the config brings another one, the
config wins and the stale replacement is dropped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from proxy.clock import Clock
from proxy.config import AccountConfig, mask
from proxy.pool.sealer import Sealer, SealError
from proxy.pool.status import fingerprint
from proxy.state.base import CredentialRecord, StateStore

log = logging.getLogger("pool_proxy.pool")

MAX_CREDENTIAL = 16_384  # characters; browsers cap a cookie header well below this
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_NAME = re.compile(r"^\s*cookie\s*:\s*", re.IGNORECASE)


class CredentialRejected(ValueError):
    """What is wrong with a pasted credential; `field` names the body field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def credential_field(config: AccountConfig) -> str | None:
    """`cookie` or `api_key`: the field this account's provider authenticates with."""
    if config.cookie is not None:
        return "cookie"
    if config.api_key is not None:
        return "api_key"
    return None


def tidy(raw: str, field: str) -> str:
    """The pasted text cleaned as config credentials are: no line breaks or tabs (which
    would split an HTTP header), a copied `Cookie:` header name dropped, `;` tidied."""
    flat = raw.replace("\r", "").replace("\n", "").replace("\t", "").strip()
    if field == "cookie":
        flat = _HEADER_NAME.sub("", flat)
        flat = "; ".join(p.strip() for p in flat.split(";") if p.strip())
    if not flat:
        raise CredentialRejected(f"'{field}' is empty.", field)
    if len(flat) > MAX_CREDENTIAL:
        raise CredentialRejected(f"'{field}' is longer than {MAX_CREDENTIAL} characters.", field)
    if _CONTROL.search(flat):
        raise CredentialRejected(f"'{field}' contains control characters.", field)
    return flat


class Overrides:
    """Which credential is in force for each account, and the operator's way to replace it."""

    def __init__(self, store: StateStore, clock: Clock, admin_key: str | None) -> None:
        self.store = store
        self.clock = clock
        self.sealer = Sealer(admin_key) if admin_key else None
        self._unreadable: set[str] = set()  # warned once each

    def effective(self, config: AccountConfig) -> AccountConfig:
        """The account as configured, with the operator's replacement credential if in force."""
        secret = self._secret(config)
        field = credential_field(config)
        if secret is None or field is None:
            return config
        if field == "cookie":
            return replace(config, cookie=secret)
        return replace(config, api_key=secret)

    def _secret(self, config: AccountConfig) -> str | None:
        record = self.store.credential(config.id)
        if record is None or self.sealer is None or record.base != fingerprint(config.secret):
            return None
        try:
            return self.sealer.open(record.sealed)
        except SealError as exc:
            if config.id not in self._unreadable:
                self._unreadable.add(config.id)
                log.warning(
                    "replacement credential unreadable (admin_key changed?); using the config's",
                    extra={"account": config.id, "error": str(exc)},
                )
            return None

    def stale(self, configs: tuple[AccountConfig, ...]) -> list[str]:
        """Accounts whose replacement was made for a config credential that is gone."""
        found = []
        for config in configs:
            record = self.store.credential(config.id)
            if record is not None and record.base != fingerprint(config.secret):
                found.append(config.id)
        return found

    async def drop_stale(self, configs: tuple[AccountConfig, ...]) -> None:
        for account_id in self.stale(configs):
            log.warning(
                "the config changed this account's credential: it replaces the pasted one",
                extra={"account": account_id},
            )
            await self.store.set_credential(account_id, None)

    async def put(self, config: AccountConfig, body: dict[str, Any]) -> None:
        """Replace the account's credential by the one in `body` ({cookie} or {api_key})."""
        field = credential_field(config)
        if field is None:
            raise CredentialRejected(f"Account '{config.id}' takes no credential.", "cookie")
        given = [k for k in ("cookie", "api_key") if k in body]
        if given != [field]:
            raise CredentialRejected(f"Send the new credential as '{field}' (and nothing else).", field)
        raw = body[field]
        if not isinstance(raw, str):
            raise CredentialRejected(f"'{field}' must be a string.", field)
        if self.sealer is None:
            raise CredentialRejected("Set admin_key: it seals stored credentials.", field)
        secret = tidy(raw, field)
        record = CredentialRecord(self.sealer.seal(secret), fingerprint(config.secret), self.clock.now())
        await self.store.set_credential(config.id, record)

    def describe(self, config: AccountConfig) -> dict[str, Any]:
        """Which credential is in force, masked: for the admin API and the dashboard."""
        secret = self._secret(config)
        record = self.store.credential(config.id) if secret is not None else None
        return {
            "credential": mask(secret if secret is not None else config.secret),
            "credential_source": "admin" if record is not None else "config",
            "credential_updated_at": record.updated_at if record is not None else None,
            "credential_field": credential_field(config),
        }

    def secrets(self, configs: tuple[AccountConfig, ...]) -> list[str]:
        """Replacement credentials in force, for the log scrubber."""
        return [s for c in configs if (s := self._secret(c))]
