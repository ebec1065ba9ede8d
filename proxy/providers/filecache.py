"""Uploaded images remembered by content hash, so a chat history is not re-uploaded each turn."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class FileCache(Generic[T]):
    """A bounded LRU map from the SHA-256 of some bytes to what their upload returned."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()

    @staticmethod
    def key(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def get(self, key: str) -> T | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: T) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
