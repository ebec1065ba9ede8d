"""Every Redis key and channel the backend uses, under the configured prefix.

`SCHEMA` is part of each name: a replica that changes a value's layout or a script's
contract bumps it, so old and new replicas can run side by side during a rolling deploy
without reading each other's data.
"""

from __future__ import annotations

SCHEMA = "v1"


class Keys:
    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}{SCHEMA}:"
        self.events = f"{self.base}events"  # pub/sub: status changes and lease releases
        self.accounts = f"{self.base}accounts"  # set of account ids that have a status
        self.credentials = f"{self.base}credentials"  # hash: account id -> sealed override
        self.clients = f"{self.base}clients"  # runtime clients: name -> record (key digest only)
        self.client_keys = f"{self.base}client-keys"  # key digest -> client name

    def status(self, account_id: str) -> str:
        return f"{self.base}status:{account_id}"

    def probe(self, account_id: str) -> str:
        return f"{self.base}probe:{account_id}"

    def leases(self, account_id: str) -> str:
        return f"{self.base}leases:{account_id}"

    def account_bucket(self, account_id: str) -> str:
        return f"{self.base}bucket:account:{account_id}"

    def client_bucket(self, client: str) -> str:
        return f"{self.base}bucket:client:{client}"

    def cursor(self, name: str) -> str:
        return f"{self.base}cursor:{name}"

    def usage(self, day: str) -> str:
        return f"{self.base}usage:{day}"

    def minute(self, minute: int) -> str:
        return f"{self.base}minute:{minute}"

    def sticky(self, conversation: str) -> str:
        return f"{self.base}sticky:{conversation}"

    def lock(self, name: str) -> str:
        return f"{self.base}lock:{name}"

    def budget(self, counter: str) -> str:
        return f"{self.base}budget:{counter}"
