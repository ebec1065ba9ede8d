"""The log file: written live at the configured path, rolled over to dated copies.

`tail -f`, log shippers and logrotate are pointed at the path the operator configured,
so that path is always the file being written. At each UTC midnight, and whenever the
file would pass `max_bytes`, it is renamed to a copy named after the day its lines were
written (`pool-proxy.2026-12-01.log`, then `pool-proxy.2026-12-01.1.log`, `.2.log`… for
further copies of the same day) and a fresh live file is opened. Only the newest
`backups` copies are kept. If logrotate (or anyone) moves the live file away instead, the
next line starts a new one at the path.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import time
from io import TextIOWrapper
from pathlib import Path


def utc_day(seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def error_log_path(path: Path) -> Path:
    """The errors-only file beside the live log: `pool-proxy.log` → `pool-proxy.error.log`."""
    return path.with_name(f"{path.stem}.error{path.suffix}")


class LiveLogFile(logging.handlers.BaseRotatingHandler):
    """Appends to `path`; rolls it over by UTC day (of the record's time) and by size."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The day of the lines in the live file: for a file left by an earlier run, the day it
        # was last written; for a new one, the day of its first line.
        self.day = utc_day(path.stat().st_mtime) if path.exists() and path.stat().st_size else ""
        self.max_bytes = max_bytes
        self.backups = backups
        self._stem, self._suffix = path.stem, path.suffix
        self._pattern = re.compile(
            rf"{re.escape(path.stem)}\.(\d{{4}}-\d{{2}}-\d{{2}})(?:\.(\d+))?{re.escape(path.suffix)}"
        )
        self._next_day = ""
        self._identity = (0, 0)  # (device, inode) of the open live file
        super().__init__(str(path), "a", encoding="utf-8")

    @property
    def path(self) -> Path:
        return Path(self.baseFilename)

    def _open(self) -> TextIOWrapper:
        stream = super()._open()
        found = os.fstat(stream.fileno())
        self._identity = (found.st_dev, found.st_ino)
        return stream

    def _reopen_if_moved(self) -> None:
        """Another tool (logrotate) moved or deleted the live file: start a new one at the path."""
        if self.stream is None:
            return
        try:
            found = os.stat(self.baseFilename)
            if (found.st_dev, found.st_ino) == self._identity:
                return
        except FileNotFoundError:
            pass
        self.stream.close()
        self.stream = self._open()
        self.day = ""

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        self._reopen_if_moved()
        day = utc_day(record.created)
        if not self.day:
            self.day = day
        elif day > self.day:
            self._next_day = day
            return True
        if self.max_bytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        size = self.stream.tell()
        return size > 0 and size + len(self.format(record)) + 1 > self.max_bytes

    def doRollover(self) -> None:
        """Move the live file to its dated copy and start a new one at the same path."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        live = self.path
        if live.exists() and live.stat().st_size > 0:
            os.replace(live, self._copy_name(self.day))
        if self._next_day:
            self.day, self._next_day = self._next_day, ""
        self._prune()
        self.stream = self._open()

    def _copy_name(self, day: str) -> Path:
        """The day's first copy is `name.DAY.log`; later ones count on from the newest kept."""
        numbers = [n for (copy_day, n), _ in self._copies() if copy_day == day]
        tag = day if not numbers else f"{day}.{max(numbers) + 1}"
        return self.path.with_name(f"{self._stem}.{tag}{self._suffix}")

    def _copies(self) -> list[tuple[tuple[str, int], Path]]:
        """The rotated copies on disk with their (day, number), oldest first."""
        found = []
        for entry in self.path.parent.iterdir():
            match = self._pattern.fullmatch(entry.name)
            if match:
                found.append(((match.group(1), int(match.group(2) or 0)), entry))
        return sorted(found)

    def _prune(self) -> None:
        copies = self._copies()
        for _, old in copies[: max(0, len(copies) - self.backups)]:
            old.unlink(missing_ok=True)
