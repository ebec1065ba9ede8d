"""Structured logs: one JSON (or text) line per event, secrets masked (DESIGN §9)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from proxy.config import LoggingConfig, mask
from proxy.logfile import LiveLogFile, error_log_path

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


def scrub_log_handlers(scrubber: Scrubber) -> None:
    """Have every handler of the root logger mask `scrubber`'s secrets.

    The handlers are the process's, shared by every gateway in it: each gateway adds its
    own scrubber while it runs, so a line is cleaned of the secrets of all of them."""
    for handler in logging.getLogger().handlers:
        if scrubber not in handler.filters:
            handler.addFilter(scrubber)


def unscrub_log_handlers(scrubber: Scrubber) -> None:
    for handler in logging.getLogger().handlers:
        handler.removeFilter(scrubber)


def setup_logging(config: LoggingConfig, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger: stderr, plus the live log file and its errors-only twin.

    `secrets` are masked from the first line on; a running gateway adds its own scrubber
    (see `scrub_log_handlers`), which this keeps when it replaces the handlers."""
    root = logging.getLogger()
    scrubbers = [Scrubber(secrets)] if secrets else []
    for handler in list(root.handlers):
        scrubbers += [f for f in handler.filters if isinstance(f, Scrubber) and f not in scrubbers]
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    handlers: list[logging.Handler] = [stderr]
    if config.file:
        path = Path(config.file)
        handlers.append(LiveLogFile(path, config.max_bytes, config.backups))
        errors = LiveLogFile(error_log_path(path), config.max_bytes, config.backups)
        errors.setLevel(logging.ERROR)
        handlers.append(errors)
    for handler in handlers:
        if handler is not stderr:
            handler.setFormatter(JsonFormatter())  # files are read by machines
        for scrubber in scrubbers:
            handler.addFilter(scrubber)
        root.addHandler(handler)
    root.setLevel(config.level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
