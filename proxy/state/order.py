"""The order in which candidates are tried: round robin, least busy or random, by weight."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

from proxy.core.admission import Candidate, Strategy


def weighted_cycle(candidates: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """Each candidate `weight` times, interleaved (a,b,a,b,a for weights 3 and 2)."""
    return _cycle(tuple(candidates))


@functools.lru_cache(maxsize=1024)
def _cycle(candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    if all(c.weight == 1 for c in candidates):
        return candidates
    cycle: list[Candidate] = []
    for round_ in range(max(c.weight for c in candidates)):
        cycle.extend(c for c in candidates if c.weight > round_)
    return tuple(cycle)


def order(
    candidates: Sequence[Candidate],
    strategy: Strategy,
    cursor: int,
    in_flight: Callable[[str], int],
) -> list[Candidate]:
    """Candidates in the order to try them, each once."""
    if len(candidates) <= 1:
        return list(candidates)
    if strategy == "random":
        weights = [c.weight for c in candidates]
        first = random.choices(range(len(candidates)), weights)[0]
        rest = [c for i, c in enumerate(candidates) if i != first]
        random.shuffle(rest)
        return [candidates[first], *rest]
    cycle = weighted_cycle(candidates)
    start = cursor % len(cycle)
    rotated = cycle[start:] + cycle[:start]
    if len(cycle) == len(candidates):
        ordered = list(rotated)  # every weight is 1: the rotation has no repeats
    else:
        seen: set[str] = set()
        ordered = []
        for c in rotated:
            if c.id not in seen:
                seen.add(c.id)
                ordered.append(c)
    if strategy == "least_busy":
        ordered.sort(key=lambda c: in_flight(c.id) / c.weight)  # stable: ties keep rotation
    return ordered
