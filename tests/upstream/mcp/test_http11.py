"""`Http11Transport` against a real HTTP/1.1 server on 127.0.0.1 that answers each path in one
framing: keep-alive reuse, Content-Length, chunked and close-delimited bodies, a connection the
server closed while idle, a read timeout, a malformed answer, and the SSRF check at the socket
(nothing connects to a private address unless allowed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2
import pytest

from toolwire.upstream.mcp.http11 import Http11Transport, PrivateAddress

pytestmark = pytest.mark.timeout(60)


@dataclass
class Server:
    url: str
    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


async def _answer(
    server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    server.connections += 1
    server.writers.append(writer)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = next(
                (
                    int(v)
                    for k, _, v in (ln.partition(": ") for ln in lines)
                    if k.lower() == "content-length"
                ),
                0,
            )
            server.bodies.append(await reader.readexactly(length))
            if path == "/length":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            elif path == "/chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for part in (b"one ", b"two ", b"three"):
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    await writer.drain()
                    await asyncio.sleep(0.01)
                writer.write(b"0\r\n\r\n")
            elif path == "/until-close":
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
                await writer.drain()
                writer.close()
                return
            elif path == "/silent":
                await asyncio.sleep(5)
                return
            elif path == "/garbage":
                writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(url="")
    listener = await asyncio.start_server(
        lambda r, w: _answer(state, r, w), host="127.0.0.1", port=0
    )
    port = listener.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield state
        for writer in state.writers:
            writer.close()


def client(**kwargs: object) -> httpx2.AsyncClient:
    transport = Http11Transport(allow_private_networks=True, **kwargs)  # type: ignore[arg-type]
    return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(5.0, read=0.5))


async def test_requests_reuse_one_kept_alive_connection_and_send_their_bodies(
    server: Server,
) -> None:
    async with client() as http:
        answers = [await http.post(f"{server.url}/length", content=b"x" * n) for n in (1, 300)]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.text for a in answers] == ["hello", "hello"]
    assert server.bodies == [b"x", b"x" * 300]
    assert server.connections == 1


async def test_a_chunked_body_streams_piece_by_piece_then_the_connection_is_reused(
    server: Server,
) -> None:
    async with client() as http:
        async with http.stream("POST", f"{server.url}/chunked", content=b"{}") as response:
            pieces = [piece async for piece in response.aiter_bytes()]
        again = await http.post(f"{server.url}/length", content=b"{}")
    assert b"".join(pieces) == b"one two three"
    assert len(pieces) >= 2  # streamed as it came, not read whole first
    assert again.text == "hello"
    assert server.connections == 1


async def test_a_body_that_ends_with_the_connection_is_read_whole_and_not_reused(
    server: Server,
) -> None:
    async with client() as http:
        first = await http.get(f"{server.url}/until-close")
        second = await http.get(f"{server.url}/length")
    assert first.text == "all of it"
    assert second.text == "hello"
    assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused(server: Server) -> None:
    async with client() as http:
        assert (await http.get(f"{server.url}/length")).text == "hello"
        for writer in server.writers:
            writer.close()
        await asyncio.sleep(0.1)  # the close reaches the client's protocol
        assert (await http.get(f"{server.url}/length")).text == "hello"
    assert server.connections == 2


async def test_an_upstream_that_does_not_answer_is_a_read_timeout(server: Server) -> None:
    async with client() as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(f"{server.url}/silent", content=b"{}")


async def test_a_malformed_answer_is_a_protocol_error(server: Server) -> None:
    async with client() as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(f"{server.url}/garbage", content=b"{}")


async def test_a_private_address_is_refused_before_connecting_unless_allowed(
    server: Server,
) -> None:
    guarded = httpx2.AsyncClient(transport=Http11Transport(allow_private_networks=False))
    async with guarded:
        with pytest.raises(PrivateAddress):
            await guarded.get(f"{server.url}/length")
    assert server.connections == 0
    localhost = server.url.replace("127.0.0.1", "localhost")
    async with httpx2.AsyncClient(transport=Http11Transport(allow_private_networks=False)) as g:
        with pytest.raises(PrivateAddress):
            await g.get(f"{localhost}/length")  # a name resolving to loopback, too
    assert server.connections == 0


async def test_at_most_max_connections_requests_are_in_flight(server: Server) -> None:
    async with client(max_connections=2) as http:
        answers = await asyncio.gather(
            *(http.post(f"{server.url}/chunked", content=b"{}") for _ in range(6))
        )
    assert all(a.text == "one two three" for a in answers)
    assert server.connections == 2
