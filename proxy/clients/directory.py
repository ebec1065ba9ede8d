"""Every client key: the config file's, looked up here, and runtime ones, looked up in the store.

Config keys never cost a store call. A key that matches no config client is looked up
by digest in the `StateStore` on every request, so a key rotated, disabled or deleted
through any replica stops working everywhere at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from proxy.clients import records, secret
from proxy.clients.client import Client, from_config, from_record
from proxy.clock import Clock
from proxy.config.model import ClientConfig
from proxy.state.ledgers import ClientRegistry, Record

log = logging.getLogger("pool_proxy.clients")


class ClientError(Exception):
    """An admin change that cannot be made: `status` and a message naming the reason."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


class ClientDirectory:
    def __init__(
        self, clients: tuple[ClientConfig, ...], registry: ClientRegistry, clock: Clock, source: str = ""
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.config_file = source
        self._keys: dict[bytes, tuple[str, Client]] = {}
        self.configured: dict[str, Client] = {}
        for c in clients:
            client = from_config(c, secret.mask(c.key))
            self.configured[c.name] = client
            self._keys[hashlib.sha256(c.key.encode()).digest()] = (c.key, client)
        self.runtime: dict[str, Client] = {}  # the runtime clients this replica has seen

    # -- requests -----------------------------------------------------------------------------

    def find(self, key: str) -> Client | None:
        """A config client by key (constant-time confirmed); never a store call."""
        raw = key.encode()
        found = self._keys.get(hashlib.sha256(raw).digest())
        if found is None or not hmac.compare_digest(found[0].encode(), raw):
            return None
        return found[1]

    async def resolve(self, key: str) -> Client | None:
        """A config client, else the runtime client whose key this is (expired or not)."""
        client = self.find(key)
        if client is not None or not key.startswith(secret.PREFIX):
            return client
        record = await self.registry.find(secret.digest(key))
        if record is None:
            return None
        client = from_record(record)
        self.runtime[client.name] = client
        return client

    def named(self, name: str) -> Client | None:
        return self.configured.get(name) or self.runtime.get(name)

    # -- the admin API ------------------------------------------------------------------------

    async def list(self) -> list[Client]:
        found = await self.registry.all()
        self.runtime = {name: from_record(r) for name, r in found.items()}
        return [*self.configured.values(), *sorted(self.runtime.values(), key=lambda c: c.name)]

    async def get(self, name: str) -> Client:
        if name in self.configured:
            return self.configured[name]
        return from_record(await self._record(name))

    async def create(self, body: object) -> tuple[Client, str]:
        """A new runtime client and its key; the key is returned here and never again."""
        fields = _checked(body, creating=True)
        name = fields["name"]
        if name in self.configured:
            raise ClientError(409, "client_exists", f"'{name}' is a client of the config file.", "name")
        key = secret.new_key()
        now = self.clock.now()
        record: Record = {
            "models": None,
            "rate_limit": None,
            "budget": None,
            "expires_at": None,
            "note": "",
            **fields,
            "digest": secret.digest(key),
            "mask": secret.mask(key),
            "disabled": False,
            "created_at": now,
            "updated_at": now,
        }
        if not await self.registry.put(record, new=True):
            raise ClientError(409, "client_exists", f"A client named '{name}' already exists.", "name")
        return self._seen(record), key

    async def update(self, name: str, body: object) -> tuple[Client, dict[str, Any]]:
        """Change limits, models, budget, expiry or note; returns the client and what changed."""
        self._writable(name)
        fields = _checked(body, creating=False)
        record = await self._record(name)
        changed = {k: v for k, v in fields.items() if record.get(k) != v}
        return await self._save({**record, **fields}), changed

    async def rotate(self, name: str) -> tuple[Client, str]:
        """A new key for the same client (its budget and usage stay); the old key dies now."""
        self._writable(name)
        record = await self._record(name)
        key = secret.new_key()
        return await self._save({**record, "digest": secret.digest(key), "mask": secret.mask(key)}), key

    async def set_disabled(self, name: str, disabled: bool) -> Client:
        self._writable(name)
        return await self._save({**await self._record(name), "disabled": disabled})

    async def delete(self, name: str) -> None:
        self._writable(name)
        if not await self.registry.remove(name):
            raise _missing(name)
        self.runtime.pop(name, None)

    async def _record(self, name: str) -> Record:
        for record in (await self.registry.all()).values():
            if record.get("name") == name:
                return record
        raise _missing(name)

    async def _save(self, record: Record) -> Client:
        await self.registry.put({**record, "updated_at": self.clock.now()})
        return self._seen(record)

    def _seen(self, record: Record) -> Client:
        client = from_record(record)
        self.runtime[client.name] = client
        return client

    def _writable(self, name: str) -> None:
        if name in self.configured:
            where = self.config_file or "the config file"
            raise ClientError(
                409,
                "client_from_config",
                f"'{name}' is defined in {where}; change it there and reload.",
            )


def _checked(body: object, *, creating: bool) -> dict[str, Any]:
    try:
        return records.changes(body, creating=creating)
    except records.Invalid as exc:
        raise ClientError(400, "invalid_request", str(exc), exc.param) from None


def _missing(name: str) -> ClientError:
    return ClientError(404, "client_not_found", f"No client named '{name}'.")
