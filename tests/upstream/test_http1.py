"""Http1Pool (the lean HTTP/1.1 exchange under an HTTP tool call) against real servers on
loopback: keep-alive reuse, every body framing, interim answers, HEAD, Connection: close, a full
pool, refused header injection, slow, broken and oversize answers, TLS; on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpcore2
import httpx
import pytest

from tests.upstream.test_sockets import answer, certificate, port_of, read_request, run, serve
from tests.upstream.test_transport import Server
from toolwire.upstream.http1 import Http1Pool
from toolwire.upstream.net import BlockedAddress, GuardedBackend
from toolwire.upstream.sockets import AsyncioBackend
from toolwire.upstream.transport import TooLarge, Undecodable

__all__ = ["certificate", "run"]  # fixtures used here

Run = Callable[[Awaitable[None]], None]
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
)


def lean(max_connections: int = 10, timeout: float = 5, **kw: object) -> Http1Pool:
    return Http1Pool(
        AsyncioBackend(errors=httpcore2), max_connections=max_connections, timeout=timeout, **kw
    )


def get(url: str, method: str = "GET", **kw: object) -> httpx.Request:
    return httpx.Request(method, url, **kw)  # type: ignore[arg-type]


async def _reuse_framings_interim_and_head() -> None:
    replies = iter(
        [
            answer(b'{"n": 1}'),
            CHUNKED,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  # HEAD: no body follows
            answer(b"after"),
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it",
        ]
    )
    server = Server(lambda head: next(replies))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/x?q=1"
        pool = lean()
        try:
            status, headers, body = await pool.fetch(get(url, "POST", json={"a": 1}), 100)
            assert (status, body, headers["content-type"]) == (200, b'{"n": 1}', "application/json")
            assert (await pool.fetch(get(url), 100))[2] == b"Wikipedia"
            assert (await pool.fetch(get(url), 100))[::2] == (200, b"ok")
            assert (await pool.fetch(get(url), 100))[::2] == (204, b"")
            assert (await pool.fetch(get(url, "HEAD"), 100))[::2] == (200, b"")
            assert (await pool.fetch(get(url), 100))[2] == b"after"
            assert (await pool.fetch(get(url), 100))[2] == b"all of it"
            assert pool.idle_connections == 0  # the close-delimited answer ended the connection
        finally:
            await pool.aclose()
        await server.settled()
    # one connection up to the HEAD (not reused: its framing is ambiguous), one after it
    assert server.accepted == 2
    assert server.heads[0].startswith(b"POST /x?q=1 HTTP/1.1\r\n")
    assert b"content-length: 7" in server.heads[0].lower()


async def _a_full_pool_makes_callers_wait_not_fail() -> None:
    server = Server(lambda head: answer(b"{}"))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        pool = lean(max_connections=2)
        try:
            answers = await asyncio.gather(*(pool.fetch(get(url), 10) for _ in range(12)))
        finally:
            await pool.aclose()
        await server.settled()
    assert [a[0] for a in answers] == [200] * 12
    assert server.accepted <= 2


async def _injection_is_refused_before_sending() -> None:
    server = Server(lambda head: answer(b"{}"))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        pool = lean()
        try:
            for raw in (
                (b"x-evil", b"X-Evil", b"a\r\nX-Injected: 1"),
                (b"x-evil", b"X-Evil", b"a\nX-Injected: 1"),
                (b"x-evil", b"X-Evil", b"a\x00b"),
                (b"x evil", b"X Evil", b"1"),
                (b"x-evil:", b"X-Evil:", b"1"),
            ):
                request = get(url)
                request.headers._list.append(raw)
                with pytest.raises(httpx.LocalProtocolError):
                    await pool.fetch(request, 10)
            with pytest.raises(httpx.LocalProtocolError):
                await pool.fetch(get(url, "GET\r\nX"), 10)
            assert (await pool.fetch(get(url), 10))[0] == 200
        finally:
            await pool.aclose()
        await server.settled()
    assert all(b"X-Injected" not in head for head in server.heads)
    assert len(server.heads) == 1


async def _slow_broken_and_oversize_answers() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            await reader.read()  # never answers; ends when the client gives up
        finally:
            writer.close()

    def half(head: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\nshort"

    cases = [
        (b"NOT HTTP AT ALL\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n", TooLarge),  # declared
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"10\r\n"
            + b"y" * 16
            + b"\r\n" * 1,
            TooLarge,
        ),
    ]
    pool = lean(timeout=0.3)
    try:
        async with await serve(silent) as listening:
            with pytest.raises(httpx.ReadTimeout):
                await pool.fetch(get(f"http://127.0.0.1:{port_of(listening)}/"), 10)
        server = Server(half)
        async with await serve(server.handler) as listening:
            with pytest.raises(httpx.RemoteProtocolError):
                await pool.fetch(get(f"http://127.0.0.1:{port_of(listening)}/"), 100)
        for reply, error in cases:
            server = Server(lambda head, reply=reply: reply + b"")
            async with await serve(server.handler) as listening:
                with pytest.raises(error):
                    await pool.fetch(get(f"http://127.0.0.1:{port_of(listening)}/"), 10)
        with pytest.raises(httpx.ConnectError):
            await pool.fetch(get("http://127.0.0.1:1/"), 10)
        with pytest.raises(httpx.UnsupportedProtocol):
            await pool.fetch(get("ftp://127.0.0.1/"), 10)
        assert pool.idle_connections == 0
    finally:
        await pool.aclose()


def gzipped(body: bytes, coding: bytes = b"gzip") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        coding,
        len(body),
        body,
    )


def bomb(size: int) -> bytes:
    """A gzip stream of `size` zero bytes (about 1/1000 of that on the wire), made in pieces."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    piece = bytes(1 << 20)
    out = [packer.compress(piece) for _ in range(size >> 20)]
    return b"".join([*out, packer.flush()])


async def _gzip_is_decoded_under_the_cap_and_other_codings_refused() -> None:
    data = b'{"big": "' + b"x" * 5000 + b'"}'
    packed = gzip.compress(data)
    huge = bomb(64 << 20)  # 64 MiB of zeros in ~64 KB
    replies = iter(
        [
            gzipped(packed),
            gzipped(packed, b"X-GZIP"),
            gzipped(b"{}", b"identity"),
            b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n",
            gzipped(huge),
            gzipped(packed, b"br"),
            gzipped(packed, b"gzip, gzip"),
            gzipped(b"\x1f\x8b not gzip at all"),
            gzipped(packed[:-20]),  # cut short
        ]
    )
    server = Server(lambda head: next(replies))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}/"
        pool = lean()
        try:
            assert (await pool.fetch(get(url), len(data)))[2] == data  # the cap: decoded size
            assert (await pool.fetch(get(url), len(data)))[2] == data
            assert (await pool.fetch(get(url), 10))[2] == b"{}"
            assert (await pool.fetch(get(url), 10))[::2] == (204, b"")
            tracemalloc.start()
            try:
                with pytest.raises(TooLarge):
                    await pool.fetch(get(url), 1 << 20)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert peak < 8 << 20  # inflated up to the cap, not to 64 MiB
            for _ in range(4):
                with pytest.raises(Undecodable):
                    await pool.fetch(get(url), 1 << 20)
        finally:
            await pool.aclose()
    assert len(huge) < 1 << 20  # under the cap on the wire: refused for its decoded size


async def _the_ssrf_guard_refuses_before_connecting() -> None:
    guarded = GuardedBackend(AsyncioBackend(errors=httpcore2), errors=httpcore2)
    pool = Http1Pool(guarded, max_connections=2, timeout=2)
    try:
        with pytest.raises(httpx.ConnectError) as refused:
            await pool.fetch(get("http://127.0.0.1:9/"), 10)
        assert isinstance(refused.value.__context__, BlockedAddress)
    finally:
        await pool.aclose()


async def _tls(cert: Path, key: Path) -> None:
    server = Server(lambda head: answer(b'{"tls": true}'))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with await serve(server.handler, server_tls) as listening:
        url = f"https://localhost:{port_of(listening)}/"
        pool = lean(ssl_context=ssl.create_default_context(cafile=str(cert)))
        try:
            for _ in range(3):
                assert (await pool.fetch(get(url), 100))[2] == b'{"tls": true}'
        finally:
            await pool.aclose()
        untrusting = lean()
        try:
            with pytest.raises(httpx.ConnectError):
                await untrusting.fetch(get(url), 100)
        finally:
            await untrusting.aclose()
        await server.settled()
    assert server.accepted == 1  # one reused TLS connection


def test_reuse_framings_interim_and_head(run: Run) -> None:
    run(_reuse_framings_interim_and_head())


def test_a_full_pool_makes_callers_wait_not_fail(run: Run) -> None:
    run(_a_full_pool_makes_callers_wait_not_fail())


def test_injection_is_refused_before_sending(run: Run) -> None:
    run(_injection_is_refused_before_sending())


def test_slow_broken_and_oversize_answers(run: Run) -> None:
    run(_slow_broken_and_oversize_answers())


def test_gzip_is_decoded_under_the_cap_and_other_codings_refused(run: Run) -> None:
    run(_gzip_is_decoded_under_the_cap_and_other_codings_refused())


def test_the_ssrf_guard_refuses_before_connecting(run: Run) -> None:
    run(_the_ssrf_guard_refuses_before_connecting())


def test_tls(run: Run, certificate: tuple[Path, Path]) -> None:
    run(_tls(*certificate))
