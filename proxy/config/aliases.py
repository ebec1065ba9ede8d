"""Model aliases: exact names first, then glob patterns such as `claude-haiku-*`.

Agents ask for dated names the operator cannot list ahead (`claude-haiku-4-5-20251001`,
`claude-opus-5-5`), so a key may be a glob; the first matching pattern, in the order the
config lists them, wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase

_GLOB = frozenset("*?[")


def is_glob(name: str) -> bool:
    return not _GLOB.isdisjoint(name)


def resolve_alias(aliases: Mapping[str, str], model: str) -> str:
    """The pool model a client's model name stands for (the name itself when no alias)."""
    target = aliases.get(model)
    if target is not None:
        return target
    for pattern, target in aliases.items():
        if is_glob(pattern) and fnmatchcase(model, pattern):
            return target
    return model
