"""A token bucket on an explicit clock (the in-process half of DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.config import RateLimit


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float
    stamp: float

    @classmethod
    def full(cls, limit: RateLimit, now: float) -> TokenBucket:
        return cls(limit.rate, limit.burst, float(limit.burst), now)

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def ready(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= 1.0

    def take(self, now: float) -> None:
        self.refill(now)
        self.tokens -= 1.0

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0 if one is there now)."""
        self.refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def until_full(self, now: float) -> float:
        self.refill(now)
        return (self.burst - self.tokens) / self.rate
