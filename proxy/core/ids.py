"""The ids the gateway makes for what it answers: completions, messages, responses, their
items and tool calls."""

from __future__ import annotations

import random


def new_id(prefix: str) -> str:
    """`prefix` and 128 random bits as 32 hex digits (uuid4's size). The bits come from the
    `random` module's generator, which seeds itself from the OS at start and again in every
    forked child, so ids stay apart across processes, replicas and restarts as uuid4s do.
    It is no secret-grade source, and need not be: the gateway keeps no answer, so an id
    grants nothing; os.urandom made a system call per id (2.5x this one's CPU time)."""
    return prefix + random.getrandbits(128).to_bytes(16, "little").hex()
