"""In-process token buckets (DESIGN §6): aiolimiter's leaky bucket on the gateway's clock.

The memory backend, and the redis backend while Redis is away, limit clients and
accounts with these. An `AsyncLimiter` of `burst` per `burst / rate` seconds is a
token bucket of `burst` tokens refilled at `rate` per second; its level is the tokens
spent. It reads `loop.time()`; `Limiter` reads the injectable `Clock` instead, so tests
move time rather than wait for it. Admission never waits in `acquire`: it checks
`has_capacity` on every bucket it needs first, then acquires them all (all or nothing).
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter

from proxy.clock import Clock
from proxy.config import RateLimit
from proxy.core.admission import ClientWindow

MIN_RATE = 1e-9  # tokens per second; a zero rate would never refill (and divide by zero)


class Limiter(AsyncLimiter):
    """An `AsyncLimiter` for one `RateLimit`, on `clock.monotonic()`."""

    __slots__ = ("_clock", "limit")

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        super().__init__(limit.burst, limit.burst / max(limit.rate, MIN_RATE))
        self.limit = limit
        self._clock = clock
        self._last_check = clock.monotonic()

    def _leak(self) -> None:
        """aiolimiter's drip, timed by our clock rather than the event loop's."""
        now = self._clock.monotonic()
        if self._level:
            elapsed = max(0.0, now - self._last_check)
            self._level = max(self._level - elapsed * self._rate_per_sec, 0.0)
        self._last_check = now

    def take(self) -> None:
        """One token, which `has_capacity` has just found there (nothing awaited since):
        `acquire` without its coroutine, as admission never waits in a bucket."""
        self._leak()
        self._level += 1

    def wait(self) -> float:
        """Seconds until one token is there (0 if one is there now)."""
        self._leak()
        return max(0.0, self._level + 1 - self.max_rate) / self._rate_per_sec

    def window(self) -> ClientWindow:
        """The bucket as the `x-ratelimit-*-requests` headers report it."""
        self._leak()
        tokens = self.max_rate - self._level
        return ClientWindow(self.limit.burst, int(tokens), self._level / self._rate_per_sec)


class Limiters:
    """Limiters by key, created full on first use and rebuilt when a limit changes."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._limiters: dict[str, Limiter] = {}

    def get(self, key: str, limit: RateLimit) -> Limiter:
        limiter = self._limiters.get(key)
        # `is not` first: the same config object needs no field-by-field compare
        if limiter is None or (limiter.limit is not limit and limiter.limit != limit):
            limiter = self._limiters[key] = Limiter(limit, self.clock)
        return limiter
