"""Where Redis is: `state.redis_url` (and `state.sentinel_master`) parsed.

Pure parsing, so that validating a config needs no Redis client (the state backend
builds its clients from a `RedisTarget` in `proxy/state/redis/target.py`).

Forms accepted:
- `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS), `unix:///path?db=N`
- `redis+sentinel://[[user]:password@]host:port[,host2:port2…]/service[/db]`
- any `redis://` or `rediss://` URL listing sentinels (`host:port[,host:port…]`) together
  with `state.sentinel_master: <service>`.
A `sentinel_password` query parameter authenticates to the sentinels themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

SENTINEL_PORT = 26379


@dataclass(frozen=True)
class RedisTarget:
    url: str | None = None  # a plain server URL, handed to redis-py as is
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False


def parse_target(url: str, sentinel_master: str | None = None) -> RedisTarget:
    """The Redis deployment `url` describes; raises ValueError on a malformed one."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("redis_url must start with redis://, rediss://, unix:// or redis+sentinel://")
    scheme = scheme.lower()
    if scheme == "redis+sentinel":
        return _sentinel(rest, None, tls=False)
    if scheme in ("redis", "rediss") and sentinel_master:
        return _sentinel(rest, sentinel_master, tls=scheme == "rediss")
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"unsupported redis_url scheme '{scheme}'")
    return RedisTarget(url=url, tls=scheme == "rediss")


def _sentinel(rest: str, service: str | None, *, tls: bool) -> RedisTarget:
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        hosts, userinfo = netloc, ""
    username, password = None, None
    if userinfo:
        user, colon, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon else None
    sentinels = tuple(_host_port(h) for h in hosts.split(",") if h)
    if not sentinels:
        raise ValueError("a Sentinel URL needs at least one host:port")
    parts = [p for p in path.split("/") if p]
    if service is None:
        if not parts:
            raise ValueError("a redis+sentinel:// URL needs the service name: …/mymaster[/db]")
        service = unquote(parts.pop(0))
    db = 0
    if parts:
        if len(parts) > 1 or not parts[0].isdigit():
            raise ValueError(f"'{'/'.join(parts)}' is not a database number")
        db = int(parts[0])
    params = parse_qs(query)
    return RedisTarget(
        sentinels=sentinels,
        service=service,
        db=db,
        username=username,
        password=password,
        sentinel_password=params.get("sentinel_password", [None])[0],
        tls=tls or params.get("ssl", ["false"])[0].lower() in ("1", "true", "yes"),
    )


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [ipv6]:port
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ValueError(f"'{text}' is not a host:port")
    if port and not port.isdigit():
        raise ValueError(f"'{text}' has a bad port")
    return host, int(port) if port else SENTINEL_PORT
