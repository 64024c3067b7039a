"""`http_pool.pooled_transport` (the lean pool under httpx2, sized, SSRF check at connect time)
against a real HTTP/1.1 server on 127.0.0.1: keep-alive reuse, more than httpx2's default 20
connections kept alive across bursts, a chunked (SSE-like) body streamed piece by piece, a
connection the server closed while idle, a stream left early, a close-ended body, httpx2's error
classes, the SSRF check (nothing connects to a private address, nor to a name resolving to
one, unless allowed), a request a kept connection dropped (a GET sent again, a POST not), and
content codings (identity asked for, a coded answer refused)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import httpx2
import pytest

from toolwire.upstream.mcp.http_pool import (
    MAX_CONNECTIONS,
    STANDING_REQUESTS,
    PrivateAddress,
    connections_for,
    pooled_transport,
)
from toolwire.upstream.mcp.spec import Http
from toolwire.upstream.mcp.transport import _http_client

pytestmark = pytest.mark.timeout(60)


@dataclass
class Server:
    url: str
    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)
    drops: int = 0
    """`/drop` requests still to close unanswered (as a server whose keep-alive timer fired)."""


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
            server.heads.append(head)
            server.bodies.append(await reader.readexactly(length))
            if path == "/drop" and server.drops:
                server.drops -= 1
                return
            if path in ("/length", "/drop"):
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
            elif path == "/gzip":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nzz"
                )
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
    transport = pooled_transport(allow_private_networks=True, **kwargs)  # type: ignore[arg-type]
    return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(5.0, read=2.0))


async def test_requests_reuse_one_kept_alive_connection_and_send_their_bodies(
    server: Server,
) -> None:
    async with client() as http:
        answers = [await http.post(f"{server.url}/length", content=b"x" * n) for n in (1, 300)]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.text for a in answers] == ["hello", "hello"]
    assert server.bodies == [b"x", b"x" * 300]
    assert server.connections == 1


async def test_more_than_twenty_connections_stay_alive_between_bursts(server: Server) -> None:
    # httpx2's default pool keeps 20 alive: the second burst of 32 would open 12 new ones.
    async with client() as http:
        for _ in range(2):
            answers = await asyncio.gather(
                *(http.post(f"{server.url}/chunked", content=b"{}") for _ in range(32))
            )
            assert all(a.text == "one two three" for a in answers)
    assert server.connections == 32


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


async def test_a_connection_the_server_closed_while_idle_is_not_reused(server: Server) -> None:
    async with client() as http:
        assert (await http.get(f"{server.url}/length")).text == "hello"
        for writer in server.writers:
            writer.close()
        await asyncio.sleep(0.1)  # the close reaches the client
        assert (await http.get(f"{server.url}/length")).text == "hello"
    assert server.connections == 2


async def test_a_private_address_is_refused_before_connecting_unless_allowed(
    server: Server,
) -> None:
    localhost = server.url.replace("127.0.0.1", "localhost")
    for url in (server.url, localhost):  # an address, and a name resolving to loopback
        transport = pooled_transport(allow_private_networks=False)
        async with httpx2.AsyncClient(transport=transport) as guarded:
            with pytest.raises(httpx2.ConnectError, match="non-public address") as caught:
                await guarded.get(f"{url}/length")
        assert isinstance(caught.value.__cause__, PrivateAddress)
    assert server.connections == 0
    async with client() as allowed:
        assert (await allowed.get(f"{localhost}/length")).text == "hello"
    assert server.connections == 1


async def test_at_most_max_connections_requests_are_in_flight(server: Server) -> None:
    async with client(max_connections=2) as http:
        answers = await asyncio.gather(
            *(http.post(f"{server.url}/chunked", content=b"{}") for _ in range(6))
        )
    assert all(a.text == "one two three" for a in answers)
    assert server.connections == 2


def test_a_session_has_a_connection_for_every_call_its_upstream_admits() -> None:
    assert connections_for(64) == 64 + STANDING_REQUESTS  # the guard's default cap
    assert connections_for(500) == 500 + STANDING_REQUESTS
    assert connections_for(None) == MAX_CONNECTIONS  # no cap known


async def test_a_stream_left_before_its_end_closes_its_connection_and_frees_its_slot(
    server: Server,
) -> None:
    async with client(max_connections=1) as http:
        async with http.stream("POST", f"{server.url}/chunked", content=b"{}") as response:
            first = await anext(response.aiter_bytes())
        with anyio.fail_after(5):  # the one slot is free again
            again = await http.post(f"{server.url}/length", content=b"{}")
    assert first == b"one "
    assert again.text == "hello"
    assert server.connections == 2  # the left stream's connection was not reused


async def test_a_body_ended_by_the_close_is_read_whole_on_a_connection_not_kept(
    server: Server,
) -> None:
    async with client() as http:
        assert (await http.get(f"{server.url}/until-close")).text == "all of it"
        assert (await http.get(f"{server.url}/length")).text == "hello"
    assert server.connections == 2


async def test_transport_errors_are_httpx2s_and_injection_is_refused_before_connecting(
    server: Server,
) -> None:
    transport = pooled_transport(allow_private_networks=True)
    timeout = httpx2.Timeout(5.0, read=0.3)
    async with httpx2.AsyncClient(transport=transport, timeout=timeout) as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(f"{server.url}/garbage")
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(f"{server.url}/silent")
        connections = server.connections
        with pytest.raises(httpx2.LocalProtocolError):
            await http.get(f"{server.url}/length", headers={"x-a": "b\r\nx-injected: 1"})
        assert server.connections == connections
        assert (await http.get(f"{server.url}/length")).text == "hello"


async def test_a_get_a_kept_connection_dropped_is_sent_again_and_a_post_is_not(
    server: Server,
) -> None:
    async with client() as http:
        await http.get(f"{server.url}/length")  # a kept connection
        server.drops = 1
        assert (await http.get(f"{server.url}/drop")).text == "hello"
        server.drops = 1
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(f"{server.url}/drop", content=b'{"jsonrpc": "2.0"}')
    methods = [head.split(b" ", 1)[0] for head in server.heads]
    assert methods == [b"GET", b"GET", b"GET", b"POST"]  # the POST (a tools/call) seen once
    assert server.connections == 2


async def test_the_sessions_client_asks_for_identity_and_a_coded_answer_is_refused(
    server: Server,
) -> None:
    spec = Http(url=f"{server.url}/mcp")
    async with _http_client(spec, pooled_transport(allow_private_networks=True), {}) as http:
        assert (await http.get(f"{server.url}/length")).text == "hello"
        with pytest.raises(httpx2.RemoteProtocolError, match="content coding"):
            await http.get(f"{server.url}/gzip")
    assert b"\r\naccept-encoding: identity\r\n" in server.heads[0].lower()
