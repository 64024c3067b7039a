"""The asyncio network backend under every upstream client, against real servers on loopback:
TLS, connection reuse, a server closing an idle connection, timeouts, a body larger than the
read buffer."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpcore
import httpcore2
import httpx
import pytest
import uvloop

from toolwire.upstream.net import make_client
from toolwire.upstream.sockets import READ_BUFFER_LIMIT, AsyncioBackend

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
"""`toolwire serve` runs on uvloop (whose transports are not asyncio classes); tests on both."""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def client(verify: ssl.SSLContext | bool = True, timeout: float = 5.0) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(verify=verify)
    transport._pool._network_backend = AsyncioBackend()
    return httpx.AsyncClient(transport=transport, timeout=timeout)


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head:
        return None
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def answer(body: bytes, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def _tls_with_a_verified_certificate_and_keep_alive(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    accepted = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        while True:
            try:
                await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            writer.write(answer(b'{"ok": true}'))
            await writer.drain()
        writer.close()

    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with await serve(handler, server_tls) as server:
        url = f"https://localhost:{port_of(server)}/"
        async with client(trusting) as http:
            first = await http.get(url)
            second = await http.post(url, json={"n": 1})
        assert first.json() == second.json() == {"ok": True}
        assert accepted == 1  # the second request reused the connection
        async with client(True) as http:  # the system's trust store does not know this cert
            with pytest.raises(httpx.ConnectError):
                await http.get(url)


async def _an_idle_connection_the_server_closed_is_replaced_not_failed() -> None:
    accepted = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await read_request(reader)
        writer.write(answer(b"{}"))  # keep-alive announced, then closed anyway
        await writer.drain()
        writer.close()

    async with await serve(handler) as server, client() as http:
        url = f"http://127.0.0.1:{port_of(server)}/"
        for _ in range(3):
            assert (await http.get(url)).status_code == 200
            await asyncio.sleep(0.05)  # let the loop see the close
    assert accepted == 3


async def _a_server_that_does_not_answer_times_out() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # never answers; returns when the client gives up and closes
        writer.close()
        closed.set()

    async with await serve(handler) as server:
        async with client(timeout=0.3) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"http://127.0.0.1:{port_of(server)}/")
        async with asyncio.timeout(5):
            await closed.wait()  # the client closed its side of the timed-out connection


async def _a_read_that_timed_out_leaves_the_stream_readable() -> None:
    go, closed = asyncio.Event(), asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await go.wait()
        writer.write(b"late")
        await writer.drain()
        await reader.read()
        writer.close()
        await writer.wait_closed()
        closed.set()

    async with await serve(handler) as server:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port_of(server), timeout=5)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.05)
        go.set()
        assert await stream.read(100, timeout=5) == b"late"  # no timer left from the first read
        await asyncio.sleep(0.1)
        await stream.aclose()
        async with asyncio.timeout(5):
            await closed.wait()


async def _a_body_larger_than_the_read_buffer_arrives_whole() -> None:
    body = bytes(range(256)) * (4 * READ_BUFFER_LIMIT // 256 + 7)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(body, close=True))
        await writer.drain()
        writer.close()

    async with await serve(handler) as server, client() as http:
        got = b""
        async with http.stream("GET", f"http://127.0.0.1:{port_of(server)}/") as response:
            async for chunk in response.aiter_bytes():
                got += chunk
                await asyncio.sleep(0)  # a slow reader: the socket's reading pauses
    assert got == body


async def _a_cookie_one_caller_got_is_not_sent_for_the_next() -> None:
    seen: list[bytes] = []
    finished = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            assert head is not None
            seen.append(
                b"".join(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"cookie"))
            )
            extra = b"Set-Cookie: session=alice-only; Path=/\r\n"
            writer.write(answer(b"{}").replace(b"\r\n\r\n", b"\r\n" + extra + b"\r\n", 1))
            await writer.drain()
        writer.close()
        finished.set()

    async with await serve(handler) as server:
        url = f"http://127.0.0.1:{port_of(server)}/"
        async with make_client(timeout=5, allow_private_networks=True) as http:
            assert (await http.get(url)).headers["set-cookie"].startswith("session=")
            await http.get(url)
        async with asyncio.timeout(5):
            await finished.wait()
    assert seen == [b"", b""]


async def _a_refused_connection_is_a_connect_error() -> None:
    server = await serve(lambda r, w: asyncio.sleep(0))
    port = port_of(server)
    server.close()
    await server.wait_closed()
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[None]], None]:
    def go(body: Awaitable[None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(body)  # type: ignore[arg-type]

    return go


def test_tls_with_a_verified_certificate_and_keep_alive(
    run: Callable[[Awaitable[None]], None], certificate: tuple[Path, Path]
) -> None:
    run(_tls_with_a_verified_certificate_and_keep_alive(certificate))


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(
    run: Callable[[Awaitable[None]], None],
) -> None:
    run(_an_idle_connection_the_server_closed_is_replaced_not_failed())


def test_a_server_that_does_not_answer_times_out(run: Callable[[Awaitable[None]], None]) -> None:
    run(_a_server_that_does_not_answer_times_out())


def test_a_read_that_timed_out_leaves_the_stream_readable(
    run: Callable[[Awaitable[None]], None],
) -> None:
    run(_a_read_that_timed_out_leaves_the_stream_readable())


def test_a_body_larger_than_the_read_buffer_arrives_whole(
    run: Callable[[Awaitable[None]], None],
) -> None:
    run(_a_body_larger_than_the_read_buffer_arrives_whole())


def test_a_cookie_one_caller_got_is_not_sent_for_the_next(
    run: Callable[[Awaitable[None]], None],
) -> None:
    run(_a_cookie_one_caller_got_is_not_sent_for_the_next())


def test_a_refused_connection_is_a_connect_error(run: Callable[[Awaitable[None]], None]) -> None:
    run(_a_refused_connection_is_a_connect_error())


async def _the_backend_serves_httpcore2s_pool_with_its_errors() -> None:
    """The mcp SDK's httpcore2 takes the same backend: keep-alive reuse, its own error classes."""
    accepted = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        while await read_request(reader) is not None:
            writer.write(answer(b'{"two": 2}'))
            await writer.drain()
        writer.close()

    backend = AsyncioBackend(errors=httpcore2)
    async with await serve(handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        async with httpcore2.AsyncConnectionPool(network_backend=backend) as pool:  # type: ignore[arg-type]
            for _ in range(3):
                response = await pool.request("GET", url)
                assert response.content == b'{"two": 2}'
    assert accepted == 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpcore2.AsyncConnectionPool(network_backend=backend) as pool:  # type: ignore[arg-type]
        with pytest.raises(httpcore2.ConnectError):
            await pool.request("GET", f"http://127.0.0.1:{port}/")


def test_the_backend_serves_httpcore2s_pool_with_its_errors(
    run: Callable[[Awaitable[None]], None],
) -> None:
    run(_the_backend_serves_httpcore2s_pool_with_its_errors())
