"""PooledTransport (httpcore2's pool on our backend) against real servers on loopback: keep-alive
reuse, every body framing, a full pool, refused header injection (h11 refuses it), TLS, and the
adapter's lean `fetch` (size cap, one socket write per request, errors as httpx's); on asyncio and
uvloop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpcore2
import httpx
import pytest

from tests.upstream.test_sockets import answer, certificate, port_of, read_request, run, serve
from toolwire.upstream.sockets import AsyncioBackend
from toolwire.upstream.transport import PooledTransport, TooLarge

__all__ = ["certificate", "run"]  # fixtures used here

Run = Callable[[Awaitable[None]], None]


def pooled(max_connections: int = 10, verify: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    transport = PooledTransport(
        AsyncioBackend(errors=httpcore2, coalesce=True),
        max_connections=max_connections,
        ssl_context=verify,
    )
    return httpx.AsyncClient(transport=transport, timeout=5)


class Server:
    """Answers each request with `reply(head)`; counts connections; closes cleanly."""

    def __init__(self, reply: Callable[[bytes], bytes]) -> None:
        self.reply = reply
        self.accepted = 0
        self.open = 0
        self.heads: list[bytes] = []

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        try:
            while True:
                head = await read_request(reader)
                assert head is not None
                self.heads.append(head)
                out = self.reply(head)
                writer.write(out)
                await writer.drain()
                if b"Connection: close" in out:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.open -= 1

    async def settled(self) -> None:
        async with asyncio.timeout(5):
            while self.open:  # noqa: ASYNC110 (handlers end on their own loop turns)
                await asyncio.sleep(0.01)


async def _keep_alive_reuses_one_connection() -> None:
    server = Server(lambda head: answer(b'{"n": 1}'))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/x?q=1"
        async with pooled() as http:
            for _ in range(5):
                response = await http.post(url, json={"a": 1})
                assert response.json() == {"n": 1}
        await server.settled()
    assert server.accepted == 1
    assert server.heads[0].startswith(b"POST /x?q=1 HTTP/1.1\r\n")


async def _chunked_and_close_delimited_bodies() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
    )
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    replies = iter([chunked, chunked, until_close])
    server = Server(lambda head: next(replies))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        async with pooled() as http:
            assert (await http.get(url)).content == b"Wikipedia"
            assert (await http.get(url)).content == b"Wikipedia"
            assert (await http.get(url)).content == b"all of it"
        await server.settled()
    assert server.accepted == 1  # chunked kept the connection; the close ended it


async def _a_full_pool_makes_callers_wait_not_fail() -> None:
    server = Server(lambda head: answer(b"{}"))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        async with pooled(max_connections=2) as http:
            answers = await asyncio.gather(*(http.get(url) for _ in range(12)))
        await server.settled()
    assert [a.status_code for a in answers] == [200] * 12
    assert server.accepted <= 2


async def _header_injection_is_refused_before_sending() -> None:
    server = Server(lambda head: answer(b"{}"))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        async with pooled() as http:
            request = http.build_request("GET", url)
            request.headers["X-Evil"] = "a"
            request.headers._list[-1] = (b"x-evil", b"X-Evil", b"a\r\nX-Injected: 1")
            with pytest.raises(httpx.LocalProtocolError):
                await http.send(request)
            assert (await http.get(url)).status_code == 200
        await server.settled()
    assert all(b"X-Injected" not in head for head in server.heads)


async def _an_unparseable_answer_is_a_protocol_error() -> None:
    server = Server(lambda head: b"NOT HTTP AT ALL\r\n\r\nConnection: close")
    async with await serve(server.handler) as listening:
        async with pooled() as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(f"http://127.0.0.1:{port_of(listening)}/")
        await server.settled()


async def _tls_through_the_pool(cert: Path, key: Path) -> None:
    server = Server(lambda head: answer(b'{"tls": true}'))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with await serve(server.handler, server_tls) as listening:
        url = f"https://localhost:{port_of(listening)}/"
        async with pooled(verify=ssl.create_default_context(cafile=str(cert))) as http:
            for _ in range(3):
                assert (await http.get(url)).json() == {"tls": True}
        async with pooled() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(url)
        await server.settled()
    assert server.accepted == 1  # one reused TLS connection (the refused handshake never got in)


def test_keep_alive_reuses_one_connection(run: Run) -> None:
    run(_keep_alive_reuses_one_connection())


def test_chunked_and_close_delimited_bodies(run: Run) -> None:
    run(_chunked_and_close_delimited_bodies())


def test_a_full_pool_makes_callers_wait_not_fail(run: Run) -> None:
    run(_a_full_pool_makes_callers_wait_not_fail())


def test_header_injection_is_refused_before_sending(run: Run) -> None:
    run(_header_injection_is_refused_before_sending())


def test_an_unparseable_answer_is_a_protocol_error(run: Run) -> None:
    run(_an_unparseable_answer_is_a_protocol_error())


def test_tls_through_the_pool(run: Run, certificate: tuple[Path, Path]) -> None:
    run(_tls_through_the_pool(*certificate))


class Segments(Server):
    """Also records how many socket reads each request's bytes arrived in."""

    def __init__(self, reply: Callable[[bytes], bytes]) -> None:
        super().__init__(reply)
        self.reads: list[int] = []

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                reads = 1
                while data.count(b"\r\n\r\n") < 1 or not data.endswith(b"}"):
                    more = await asyncio.wait_for(reader.read(65536), 1)
                    if not more:
                        return
                    data, reads = data + more, reads + 1
                self.reads.append(reads)
                self.heads.append(data)
                writer.write(self.reply(data))
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


async def _fetch_sends_one_write_and_caps_the_body() -> None:
    big = b"x" * 5000
    replies = iter([answer(b'{"ok": 1}'), answer(big), answer(b'{"ok": 2}')])
    server = Segments(lambda head: next(replies))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/x"
        transport = PooledTransport(
            AsyncioBackend(errors=httpcore2, coalesce=True), max_connections=2, timeout=5
        )
        try:
            request = httpx.Request("POST", url, json={"a": 1})
            status, headers, body = await transport.fetch(request, 1000)
            assert (status, body, headers["content-type"]) == (
                200,
                b'{"ok": 1}',
                "application/json",
            )
            with pytest.raises(TooLarge) as refused:
                await transport.fetch(httpx.Request("POST", url, json={"a": 2}), 1000)
            assert refused.value.status == 200
            status, _, body = await transport.fetch(httpx.Request("POST", url, json={"a": 3}), 1000)
            assert body == b'{"ok": 2}'
        finally:
            await transport.aclose()
    # head and body in one segment each time (loopback delivers one write as one read)
    assert server.reads == [1, 1, 1]


async def _fetch_errors_are_httpx_errors() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            await reader.read()  # never answers; ends when the client gives up and closes
        finally:
            writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            writer.write(b"NOT HTTP\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    transport = PooledTransport(
        AsyncioBackend(errors=httpcore2, coalesce=True), max_connections=2, timeout=0.2
    )
    try:
        async with await serve(slow) as listening:
            url = f"http://127.0.0.1:{port_of(listening)}/"
            with pytest.raises(httpx.ReadTimeout):
                await transport.fetch(httpx.Request("GET", url), 1000)
        async with await serve(garbage) as listening:
            url = f"http://127.0.0.1:{port_of(listening)}/"
            with pytest.raises(httpx.RemoteProtocolError):
                await transport.fetch(httpx.Request("GET", url), 1000)
        with pytest.raises(httpx.ConnectError):
            await transport.fetch(httpx.Request("GET", "http://127.0.0.1:1/"), 1000)
    finally:
        await transport.aclose()


def test_fetch_sends_one_write_and_caps_the_body(run: Run) -> None:
    run(_fetch_sends_one_write_and_caps_the_body())


def test_fetch_errors_are_httpx_errors(run: Run) -> None:
    run(_fetch_errors_are_httpx_errors())
