"""The `redis` state backend: several replicas acting as one pool (DESIGN §1, §6)."""

from proxy.state.redis.store import RedisStore
from proxy.state.redis.target import RedisTarget, parse_target

__all__ = ["RedisStore", "RedisTarget", "parse_target"]
