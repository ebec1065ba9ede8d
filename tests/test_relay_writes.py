"""How a stream's bytes leave: each upstream read as soon as it came, except the answer's
last piece when its close was read with it — then the two leave in one write, the end of
the response (one send fewer per stream for a fast upstream)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from proxy.core.events import Event, Finish, TextDelta, Usage
from proxy.doors.openai.encoder import ChatStreamEncoder
from proxy.http.relay import Sender


class Writes:
    """An OpenStream's two calls, recorded."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.last = b""

    async def write(self, data: bytes) -> None:
        self.writes.append(data)

    async def finish(self, tail: bytes) -> None:
        self.last = tail


async def sent(*events: Event) -> Writes:
    """The events sent as if each came from its own upstream read."""

    async def reads() -> AsyncIterator[Event]:
        for event in events:
            yield event

    stream = Writes()
    encoder = ChatStreamEncoder("m", include_usage=False)
    sender = Sender(stream, encoder, collect_text=False)
    await sender.send([], reads())
    await sender.end(encoder.end())
    return stream


async def test_a_piece_read_before_the_close_leaves_at_once() -> None:
    stream = await sent(TextDelta("Hi"), TextDelta(" there"), Finish(), Usage(1, 2))
    assert len(stream.writes) == 2 and b'"Hi"' in stream.writes[0] and b'" there"' in stream.writes[1]
    assert b"there" not in stream.last and stream.last.endswith(b"data: [DONE]\n\n")


async def test_the_last_piece_read_with_the_close_leaves_with_it() -> None:
    stream = await sent(TextDelta("Hi"), TextDelta(" there", ends=True), Finish(), Usage(1, 2))
    assert len(stream.writes) == 1 and b'"Hi"' in stream.writes[0] and b"there" not in stream.writes[0]
    assert b'" there"' in stream.last and stream.last.endswith(b"data: [DONE]\n\n")
