"""Http1Pool and connections the server closes: an idle one is not reused, and a request a
reused one failed under, before any byte of its answer, is sent once more on a new connection
only when that cannot run it twice (idempotent), never on a new connection, never for a POST the
server may have read. Real servers on loopback (uvicorn with a 1 s keep-alive, raw asyncio
servers that close or reset a kept connection under the next request), on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpcore2
import httpx
import pytest

from tests.upstream.servers import serving
from tests.upstream.test_sockets import answer, certificate, port_of, read_request, run, serve
from toolwire.upstream.http1 import Http1Pool
from toolwire.upstream.sockets import AsyncioBackend

__all__ = ["certificate", "run"]  # fixtures used here

Run = Callable[[Awaitable[None]], None]


def lean() -> Http1Pool:
    return Http1Pool(AsyncioBackend(errors=httpcore2), max_connections=4, timeout=5)


class Counting:
    """An ASGI app: answers every request with {"n": <its number>}, noting each request's method
    and the client's port (one port per connection)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        self.seen.append((scope["method"], scope["client"][1]))
        body = b'{"n": %d}' % len(self.seen)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def _an_idle_connection_the_server_closed_is_not_reused(url: str, app: Counting) -> None:
    pool = lean()
    try:
        assert (await pool.fetch(httpx.Request("GET", url), 100))[2] == b'{"n": 1}'
        ((stream, _),) = next(iter(pool._idle.values()))
        async with asyncio.timeout(5):  # uvicorn closes it after its 1 s keep-alive
            while not stream.get_extra_info("is_readable"):  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0.05)
        # a POST: never sent twice, so this passes only if the closed connection was not used
        post = httpx.Request("POST", url, json={"a": 1})
        assert (await pool.fetch(post, 100))[2] == b'{"n": 2}'
    finally:
        await pool.aclose()
    assert [method for method, _ in app.seen] == ["GET", "POST"]
    assert len({port for _, port in app.seen}) == 2  # the POST went on a new connection


def test_an_idle_connection_the_server_closed_is_not_reused(run: Run) -> None:
    app = Counting()
    with serving(app, timeout_keep_alive=1) as served:  # type: ignore[arg-type]
        run(_an_idle_connection_the_server_closed_is_not_reused(served.url + "/x", app))


class DropsTheSecond:
    """On each connection: answers the first request, then reads the next one whole and closes
    without answering (`reset`: with a TCP reset), as a server whose keep-alive timer fired
    under the request does. `heads`: every request read; `accepted`: connections."""

    def __init__(self, reset: bool = False, first_too: bool = False) -> None:
        self.reset = reset
        self.first_too = first_too
        self.heads: list[bytes] = []
        self.accepted = 0

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            for answered in range(2):
                head = await read_request(reader)
                assert head is not None
                self.heads.append(head)
                if answered or self.first_too:
                    break
                writer.write(answer(b'{"ok": true}'))
                await writer.drain()
            if self.reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def methods(self) -> list[bytes]:
        return [head.split(b" ", 1)[0] for head in self.heads]


async def _an_idempotent_request_is_sent_again_on_a_new_connection(reset: bool) -> None:
    server = DropsTheSecond(reset)
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        pool = lean()
        try:
            await pool.fetch(httpx.Request("GET", url), 100)  # a kept connection
            for method in ("GET", "PUT", "DELETE"):  # each leaves a kept connection
                status, _, body = await pool.fetch(httpx.Request(method, url), 100)
                assert (status, body) == (200, b'{"ok": true}')
            # a POST the operation declares idempotent (RFC 9110 §9.2.2: known to be)
            post = httpx.Request("POST", url, json={"a": 1})
            assert (await pool.fetch(post, 100, idempotent=True))[0] == 200
        finally:
            await pool.aclose()
    # the first GET, then each request twice: dropped on the kept connection, sent on a new one
    assert server.methods() == [b"GET"] + [
        m for m in (b"GET", b"PUT", b"DELETE", b"POST") for _ in range(2)
    ]
    assert server.accepted == 5


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_an_idempotent_request_is_sent_again_on_a_new_connection(run: Run, reset: bool) -> None:
    run(_an_idempotent_request_is_sent_again_on_a_new_connection(reset))


async def _a_request_that_may_have_run_is_not_sent_again(reset: bool) -> None:
    server = DropsTheSecond(reset)
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        pool = lean()
        try:
            await pool.fetch(httpx.Request("GET", url), 100)
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await pool.fetch(httpx.Request("POST", url, json={"a": 1}), 100)
            await pool.fetch(httpx.Request("GET", url), 100)
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # declared not
                await pool.fetch(httpx.Request("GET", url), 100, idempotent=False)
        finally:
            await pool.aclose()
    assert server.methods() == [b"GET", b"POST", b"GET", b"GET"]  # the POST seen once
    assert server.accepted == 2


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_request_that_may_have_run_is_not_sent_again(run: Run, reset: bool) -> None:
    run(_a_request_that_may_have_run_is_not_sent_again(reset))


async def _a_new_connection_that_fails_is_not_retried() -> None:
    server = DropsTheSecond(first_too=True)  # closes every connection under its first request
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        pool = lean()
        try:
            with pytest.raises(httpx.RemoteProtocolError):
                await pool.fetch(httpx.Request("GET", url), 100)
        finally:
            await pool.aclose()
    assert (server.methods(), server.accepted) == ([b"GET"], 1)


def test_a_new_connection_that_fails_is_not_retried(run: Run) -> None:
    run(_a_new_connection_that_fails_is_not_retried())


async def _an_answer_begun_then_cut_is_not_retried() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal heads
        try:
            await read_request(reader)
            heads += 1
            writer.write(answer(b"{}"))
            await read_request(reader)
            heads += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()
        finally:
            writer.close()

    heads = 0
    async with await serve(cut) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        pool = lean()
        try:
            await pool.fetch(httpx.Request("GET", url), 100)
            with pytest.raises(httpx.RemoteProtocolError):
                await pool.fetch(httpx.Request("GET", url), 100)
        finally:
            await pool.aclose()
    assert heads == 2  # the server answered: the GET is not sent again


def test_an_answer_begun_then_cut_is_not_retried(run: Run) -> None:
    run(_an_answer_begun_then_cut_is_not_retried())


async def _over_tls_a_get_is_sent_again_and_a_post_is_not(cert: Path, key: Path) -> None:
    server = DropsTheSecond()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with await serve(server.handler, server_tls) as listening:
        url = f"https://localhost:{port_of(listening)}/"
        pool = Http1Pool(
            AsyncioBackend(errors=httpcore2),
            max_connections=4,
            timeout=5,
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
        try:
            await pool.fetch(httpx.Request("GET", url), 100)
            assert (await pool.fetch(httpx.Request("GET", url), 100))[0] == 200
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await pool.fetch(httpx.Request("POST", url, json={"a": 1}), 100)
        finally:
            await pool.aclose()
    assert server.methods() == [b"GET", b"GET", b"GET", b"POST"]
    assert server.accepted == 2


def test_over_tls_a_get_is_sent_again_and_a_post_is_not(
    run: Run, certificate: tuple[Path, Path]
) -> None:
    run(_over_tls_a_get_is_sent_again_and_a_post_is_not(*certificate))
