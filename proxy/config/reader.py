"""A small schema reader that walks raw YAML and collects every error with its key path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from proxy.config.values import MissingEnv, interpolate, parse_duration, parse_size

T = TypeVar("T")


class ConfigError(Exception):
    """Raised with every problem found, each prefixed by its key path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Reader:
    """Typed access to one mapping of the config; unknown keys are reported by `done()`."""

    def __init__(self, raw: object, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        self.seen: set[str] = set()
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.error(path, "must be a mapping")
            raw = {}
        self.raw: dict[str, Any] = raw

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def has(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def value(self, name: str) -> Any:
        """The raw value with `${ENV}` references resolved (strings only)."""
        self.seen.add(name)
        value = self.raw.get(name)
        if isinstance(value, str):
            try:
                return interpolate(value)
            except MissingEnv as exc:
                self.error(self.key(name), str(exc))
                return None
        return value

    def convert(self, name: str, default: T, fn: Callable[[Any], T]) -> T:
        value = self.value(name)
        if value is None:
            return default
        try:
            return fn(value)
        except (ValueError, TypeError) as exc:
            self.error(self.key(name), str(exc))
            return default

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.value(name)
        if value is None or value == "":
            if required:
                self.error(self.key(name), "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(self.key(name), "must be a string")
            return default
        return f"{value}"

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in choices:
            self.error(self.key(name), f"must be one of {', '.join(choices)}")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        def convert(value: Any) -> bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "no", "0", "off", ""):
                return False
            raise ValueError("must be true or false")

        return self.convert(name, default, convert)

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        def convert(value: Any) -> int:
            try:
                number = int(value)
                whole = not isinstance(value, bool) and number == float(value)
            except (ValueError, TypeError, OverflowError):  # not Python's "invalid literal for int()"
                whole = False
            if not whole:
                raise ValueError("must be a whole number")
            if number < minimum:
                raise ValueError(f"must be at least {minimum}")
            return number

        return self.convert(name, default, convert)

    def number(self, name: str) -> float | None:
        def convert(value: Any) -> float:
            try:
                number = float(value)
            except (ValueError, TypeError):
                number = 0.0
            if isinstance(value, bool) or not number > 0:
                raise ValueError("must be a positive number")
            return number

        return self.convert(name, None, convert)

    def duration(self, name: str, default: float) -> float:
        return self.convert(name, default, parse_duration)

    def size(self, name: str, default: int) -> int:
        return self.convert(name, default, parse_size)

    def str_list(self, name: str) -> tuple[str, ...] | None:
        value = self.value(name)
        if value is None:
            return None
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            self.error(self.key(name), "must be a list of strings")
            return None
        return tuple(interpolate(v) if isinstance(v, str) else str(v) for v in value)

    def child(self, name: str) -> Reader:
        self.seen.add(name)
        return Reader(self.raw.get(name), self.key(name), self.errors)

    def items(self, name: str) -> Iterator[Reader]:
        """Readers for each mapping in a list-valued key."""
        self.seen.add(name)
        value = self.raw.get(name)
        if value is None:
            return
        if not isinstance(value, list):
            self.error(self.key(name), "must be a list")
            return
        for index, item in enumerate(value):
            yield Reader(item, f"{self.key(name)}[{index}]", self.errors)

    def done(self) -> None:
        for name in self.raw:
            if name not in self.seen:
                self.error(self.key(str(name)), "unknown key")
