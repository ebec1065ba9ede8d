"""Estimated cost: `prices: {<model glob>: {input, output}}`, USD per million tokens."""

from __future__ import annotations

import fnmatch

from proxy.config.model import Price

NANOS = 1_000_000_000  # costs are counted in billionths of a dollar, as integers


class Prices:
    def __init__(self, prices: tuple[Price, ...]) -> None:
        self.prices = prices
        self._cache: dict[str, Price | None] = {}

    def __bool__(self) -> bool:
        return bool(self.prices)

    def price(self, model: str) -> Price | None:
        """The first matching entry, the exact name before globs."""
        if model not in self._cache:
            exact = [p for p in self.prices if p.pattern == model]
            globbed = [p for p in self.prices if fnmatch.fnmatchcase(model, p.pattern)]
            found = next(iter(exact or globbed), None)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[model] = found
        return self._cache[model]

    def nanos(self, model: str, prompt_tokens: int, completion_tokens: int) -> int:
        """Cost in nano-dollars: fine enough that rounding each request stays far below a cent
        over millions of requests (USD per million tokens times tokens is micro-dollars)."""
        price = self.price(model)
        if price is None:
            return 0
        return round((prompt_tokens * price.input + completion_tokens * price.output) * 1000)
