"""`Corked` (`toolwire.inbound.slow_clients`): a response's headers leave with its body in one
write, never after it, and never later than the loop's next turn. Checked on a real socket pair
through the event loop's own transport: the peer reads what was really sent, and when."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from toolwire.inbound.slow_clients import Corked


class _Sink(asyncio.Protocol):
    pass


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Corked, socket.socket]]:
    """A `Corked` over the loop's transport of one end of a socket pair, and the other end."""
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(_Sink, ours)
    try:
        yield Corked(transport, loop), peer
    finally:
        transport.close()
        peer.close()


def _sent(peer: socket.socket) -> bytes:
    """What the peer can read right now (b"" when nothing was sent)."""
    try:
        return peer.recv(65536)
    except BlockingIOError:
        return b""


async def test_headers_are_held_until_the_body_and_leave_with_it(
    pair: tuple[Corked, socket.socket],
) -> None:
    corked, peer = pair
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert _sent(peer) == b""  # held
    corked.write(b"body")
    assert _sent(peer) == b"HTTP/1.1 200 OK\r\n\r\nbody"
    corked.write(b"more")  # only the first write is held
    assert _sent(peer) == b"more"
    await asyncio.sleep(0)
    assert _sent(peer) == b""  # the flush at the next turn found nothing to write


async def test_a_lone_write_leaves_at_the_loops_next_turn(
    pair: tuple[Corked, socket.socket],
) -> None:
    corked, peer = pair
    corked.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    assert _sent(peer) == b""
    await asyncio.sleep(0)
    assert _sent(peer).startswith(b"HTTP/1.1 200 OK")
    corked.write(b"data: 1\n\n")
    assert _sent(peer) == b"data: 1\n\n"


async def test_close_sends_what_is_held_first(
    pair: tuple[Corked, socket.socket],
) -> None:
    corked, peer = pair
    corked.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert not corked.is_closing()
    corked.close()
    assert corked.is_closing()
    await asyncio.sleep(0.05)
    assert _sent(peer) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert _sent(peer) == b""  # then the end of the stream
