"""Structured logs: one JSON (or text) line per event, secrets masked (DESIGN §9)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from proxy.config import LoggingConfig, mask

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class Scrubber(logging.Filter):
    """Replaces every configured secret, wherever it appears, by its mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.set(secrets)

    def set(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, mask(secret))
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.clean(record.getMessage())
        record.args = None
        for key, value in _fields(record).items():
            if isinstance(value, str):
                setattr(record, key, self.clean(value))
            elif isinstance(value, list | tuple | dict):
                text = orjson.dumps(value, default=str).decode()
                cleaned = self.clean(text)
                if cleaned != text:
                    setattr(record, key, orjson.loads(cleaned))
            elif not isinstance(value, int | float | bool | None):
                # Any other object is written as str(value) by the formatters: clean that text.
                text = str(value)
                cleaned = self.clean(text)
                if cleaned != text:
                    setattr(record, key, cleaned)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items() if v is not None)
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}" + (f"  {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return line


class DailyRotatingFile(logging.handlers.RotatingFileHandler):
    """Rotates by size and starts a new dated file each UTC day: name_YYYY-MM-DD.log."""

    def __init__(self, base: Path, max_bytes: int, backups: int) -> None:
        self.base = base
        self.day = self._today()
        base.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(self._path(), maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    @staticmethod
    def _today() -> str:
        return time.strftime("%Y-%m-%d", time.gmtime())

    def _path(self) -> str:
        return str(self.base.with_name(f"{self.base.stem}_{self.day}{self.base.suffix or '.log'}"))

    def shouldRollover(self, record: logging.LogRecord) -> int:
        if self._today() != self.day:
            self.day = self._today()
            self.close()
            self.baseFilename = self._path()
            self.stream = self._open()
        return super().shouldRollover(record)


SCRUBBER = Scrubber()


def setup_logging(config: LoggingConfig, secrets: Iterable[str]) -> None:
    """Configure the root logger once: stderr, plus the rotated files when asked."""
    SCRUBBER.set(secrets)
    formatter: logging.Formatter = JsonFormatter() if config.format == "json" else TextFormatter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if config.file:
        path = Path(config.file)
        handlers.append(DailyRotatingFile(path, config.max_bytes, config.backups))
        errors = DailyRotatingFile(
            path.with_name(f"{path.stem}_error{path.suffix or '.log'}"),
            config.max_bytes,
            config.backups,
        )
        errors.setLevel(logging.ERROR)
        handlers.append(errors)
    for handler in handlers:
        handler.setFormatter(JsonFormatter() if handler is not handlers[0] else formatter)
        handler.addFilter(SCRUBBER)
        root.addHandler(handler)
    root.setLevel(config.level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
