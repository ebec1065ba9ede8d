"""The pipelined connection of the redis backend (proxy/state/redis/pipe.py), on real servers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import uvloop
from redis.exceptions import ConnectionError, ResponseError

from proxy.state.redis.pipe import Pipe
from proxy.state.redis.target import FAILURES, connect, parse_target
from tests.conftest import until
from tests.fakes.redis_server import REDIS_URL, PrivateRedis, PrivateSentinel, redis_prefix

__all__ = ["redis_prefix"]  # the fixture

ECHO_ARG = "return ARGV[1]"


class PasswordRedis(PrivateRedis):
    def __init__(self, password: str) -> None:
        super().__init__()
        self.password = password
        self.url = f"redis://:{password}@127.0.0.1:{self.port}/3"

    def arguments(self) -> list[str]:
        return [*super().arguments(), "--requirepass", self.password]


class TlsRedis(PrivateRedis):
    """TLS only, on a self-signed certificate made for the test."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.cert, self.key = workdir / "cert.pem", workdir / "key.pem"
        subprocess.run(
            [
                *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
                *["-subj", "/CN=x", "-keyout", str(self.key), "-out", str(self.cert)],
            ],
            check=True,
            capture_output=True,
        )
        self.url = f"rediss://127.0.0.1:{self.port}/1?ssl_cert_reqs=none"

    def arguments(self) -> list[str]:
        return [
            *["--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            *["--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key)],
            *["--tls-ca-cert-file", str(self.cert), "--tls-auth-clients", "no"],
        ]


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    yield server
    if server.process is not None:
        os.kill(server.process.pid, signal.SIGCONT)  # in case a test left it stopped
    server.stop()


async def pipe_to(url: str, timeout: float = 1.0) -> tuple[Pipe, aioredis.Redis]:
    client = connect(parse_target(url), timeout, timeout)
    return Pipe(client, timeout), client


async def many_concurrent_calls(url: str, prefix: str) -> None:
    pipe, client = await pipe_to(url)
    script = client.register_script(ECHO_ARG)
    try:
        n = 600
        calls = []
        for i in range(n):  # commands, scripts and errors interleaved in the same loop turns
            if i % 3 == 0:
                calls.append(pipe.execute("ECHO", f"echo-{i}"))
            elif i % 3 == 1:
                calls.append(pipe.evalsha(script, [f"{prefix}k"], [f"script-{i}"]))
            else:
                calls.append(pipe.execute("INCR", f"{prefix}counter"))
        replies = await asyncio.gather(*calls)
        for i, reply in enumerate(replies):
            if i % 3 == 0:
                assert reply == f"echo-{i}".encode()
            elif i % 3 == 1:
                assert reply == f"script-{i}".encode()
        assert sorted(r for i, r in enumerate(replies) if i % 3 == 2) == list(range(1, n // 3 + 1))
        with pytest.raises(ResponseError):  # an error reply goes to its caller only
            await pipe.execute("INCR", f"{prefix}k-not-a-number", "extra-argument")
        assert await pipe.execute("ECHO", "after") == b"after"
    finally:
        await pipe.close()
        await client.aclose()


async def test_concurrent_calls_get_their_own_replies_in_order(redis_prefix: str) -> None:
    await many_concurrent_calls(REDIS_URL, redis_prefix)


def test_concurrent_calls_under_uvloop(redis_prefix: str) -> None:
    uvloop.run(many_concurrent_calls(REDIS_URL, redis_prefix))  # the gateway's loop


async def test_noscript_loads_the_script_and_retries(private_redis: PrivateRedis) -> None:
    pipe, client = await pipe_to(private_redis.url)
    script = client.register_script(ECHO_ARG)
    try:
        assert await pipe.evalsha(script, [], ["one"]) == b"one"  # not loaded yet: NOSCRIPT
        await client.script_flush()
        replies = await asyncio.gather(*(pipe.evalsha(script, [], [str(i)]) for i in range(20)))
        assert replies == [str(i).encode() for i in range(20)]
    finally:
        await pipe.close()
        await client.aclose()


async def test_a_call_given_up_does_not_shift_later_replies(redis_prefix: str) -> None:
    pipe, client = await pipe_to(REDIS_URL)
    key = f"{redis_prefix}list"
    try:
        assert await pipe.execute("PING") == b"PONG"  # connected: the BLPOP below is sent at once
        with pytest.raises(TimeoutError):  # the store's deadline, around a call that blocks
            async with asyncio.timeout(0.05):
                await pipe.execute("BLPOP", key, 60)
        later = [asyncio.ensure_future(pipe.execute("ECHO", f"later-{i}")) for i in range(10)]
        assert await client.ping()  # a round trip on another connection while they are out
        assert not any(call.done() for call in later)  # queued behind the BLPOP
        await client.lpush(key, "item")  # BLPOP answers now, to nobody
        assert await asyncio.gather(*later) == [f"later-{i}".encode() for i in range(10)]
        assert await client.llen(key) == 0  # the abandoned BLPOP did take the item
    finally:
        await pipe.close()
        await client.aclose()


async def test_a_stopped_server_is_dropped_after_a_while_and_reconnected(
    private_redis: PrivateRedis,
) -> None:
    assert private_redis.process is not None
    pipe, client = await pipe_to(private_redis.url, timeout=0.5)  # dead after 5 x 0.5 s silent
    try:
        assert await pipe.execute("ECHO", "x") == b"x"
        first = pipe._conn
        assert first is not None
        os.kill(private_redis.process.pid, signal.SIGSTOP)

        async def give_up() -> None:
            with pytest.raises(TimeoutError):  # the caller's deadline, short of the pipe's
                async with asyncio.timeout(0.1):
                    await pipe.execute("ECHO", "a")

        await give_up()
        assert pipe._conn is first and first.transport is not None  # one slow reply: kept

        async def dropped() -> bool:
            await give_up()
            return first.transport is None

        await until(dropped)  # once silent for 2.5 s while owing replies, a give-up drops it
        os.kill(private_redis.process.pid, signal.SIGCONT)
        assert await pipe.execute("ECHO", "c") == b"c"
        assert pipe._conn is not first
    finally:
        await pipe.close()
        await client.aclose()


async def test_connection_loss_fails_pending_calls_and_the_next_call_reconnects(
    private_redis: PrivateRedis,
) -> None:
    pipe, client = await pipe_to(private_redis.url)
    try:
        assert await pipe.execute("PING") == b"PONG"  # connected: the BLPOP below is sent at once
        pending = asyncio.ensure_future(pipe.execute("BLPOP", "nothing", 60))
        assert await client.ping()  # a round trip on another connection while it is out
        assert not pending.done()
        private_redis.stop()
        with pytest.raises(ConnectionError) as lost:
            await pending
        assert isinstance(lost.value, FAILURES)  # the store's "Redis unavailable"
        with pytest.raises(FAILURES):  # nobody listening: refused, fails at once
            await pipe.execute("ECHO", "x")
        await private_redis.start()
        assert await pipe.execute("ECHO", "back") == b"back"
    finally:
        await pipe.close()
        await client.aclose()


async def test_password_and_database_from_the_url() -> None:
    server = PasswordRedis("s3cret")
    await server.start()
    pipe, client = await pipe_to(server.url)
    wrong, wrong_client = await pipe_to(f"redis://:nope@127.0.0.1:{server.port}/3")
    try:
        assert await pipe.execute("SET", "pipe-key", "v") == b"OK"
        assert await client.get("pipe-key") == "v"  # redis-py on the same URL: db 3
        assert await pipe.execute("EXISTS", "pipe-key") == 1
        db0 = aioredis.Redis(port=server.port, password="s3cret", db=0)
        assert await db0.exists("pipe-key") == 0
        await db0.aclose()
        with pytest.raises(FAILURES):
            await wrong.execute("ECHO", "x")
    finally:
        for p, c in ((pipe, client), (wrong, wrong_client)):
            await p.close()
            await c.aclose()
        server.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")
async def test_tls_with_the_url_options(tmp_path: Path) -> None:
    server = TlsRedis(tmp_path)
    await server.start()
    pipe, client = await pipe_to(server.url)
    try:
        assert await pipe.execute("SET", "over-tls", "1") == b"OK"
        assert await client.get("over-tls") == "1"  # redis-py on the same URL: db 1
    finally:
        await pipe.close()
        await client.aclose()
        server.stop()


async def test_sentinel_names_the_master(tmp_path: Path) -> None:
    master = PrivateRedis()
    await master.start()
    sentinel = PrivateSentinel(master.port, tmp_path)
    await sentinel.start()
    pipe, client = await pipe_to(f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/2")
    try:
        assert await pipe.execute("SET", "on-master", "1") == b"OK"
        direct = aioredis.Redis(port=master.port, db=2)
        assert await direct.get("on-master") == b"1"
        await direct.aclose()
    finally:
        await pipe.close()
        await client.aclose()
        sentinel.stop()
        master.stop()
