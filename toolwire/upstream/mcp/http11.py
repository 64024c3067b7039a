"""A lean HTTP/1.1 transport under the MCP SDK's `httpx2` client: keep-alive connections on
asyncio protocols, responses parsed by `httptools` (llhttp, the parser uvicorn uses), the SSRF
check at the socket.

    transport = Http11Transport(allow_private_networks=False)
    client = httpx2.AsyncClient(transport=OriginGuard(transport, ...))   # transport.py

Why: a federated call is one POST on the pooled session's client. httpx2's default transport
(httpcore2 over anyio) cost about 0.5 ms of CPU per request (measured in process against the
fixture upstream), more than the rest of the SDK's client, and kept only 20 connections alive, so
at 32 calls in flight every burst closed connections and opened new ones. This transport
writes a request in one `write` (head and body; asyncio sets TCP_NODELAY), reads the response
with a C parser, keeps idle connections last-in first-out and knows a connection the server
closed from the protocol's own callbacks (no `select` per idle connection per request).
docs/benchmarks.md (federation) has the figures.

What it does: `http` and `https` (the default TLS context of httpx2: certificate checked),
`Content-Length` and chunked responses, responses read to end of stream, streamed bodies (an SSE
stream stays open as long as the reader reads; reading pauses when more than `MAX_BUFFERED` bytes
wait). Timeouts are httpx2's (`connect`, `read` per chunk, `pool`). Errors are httpx2's
(`ConnectError`, `ConnectTimeout`, `ReadTimeout`, `PoolTimeout`, `RemoteProtocolError`).
Unless `allow_private_networks`, a host is resolved once per new connection, every address must
be public (`upstream.net.is_public`), and the socket connects to a checked address: a DNS
answer cannot change between the check and the connect.

What it is not: HTTP/2, proxies, `Expect: 100-continue`, upgrades (an upgrade or a parse error
closes the connection and fails the request).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, cast

import httptools
import httpx2

from toolwire.upstream.net import is_public, resolve

MAX_BUFFERED = 1024 * 1024
"""Bytes of a response body read ahead of the reader before reading from the socket pauses."""


class PrivateAddress(httpx2.ConnectError):
    """The upstream's host resolves to an address this upstream may not reach."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = time.monotonic()
        self.head: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] | None = None
        self.complete = False
        self.keep_alive = True
        self.until_eof = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._wake = asyncio.Event()
        self._error: httpx2.TransportError | None = None
        self._informational = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx2.RemoteProtocolError("the upstream upgraded the connection"))
            self.close()
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"malformed HTTP response: {exc}"))
            self.close()
        if self._buffered > MAX_BUFFERED and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        if self.until_eof and self.head is not None and self.head.done():
            self.complete = True
            self.keep_alive = False
            self._wake.set()
        self._fail(httpx2.RemoteProtocolError("the upstream closed the connection"))
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(httpx2.ReadError("the connection to the upstream was lost"))

    # -- httptools callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self._informational = True  # 1xx: the final answer follows on the same stream
            return
        names = {name.lower() for name, _ in self._headers}
        self.until_eof = b"content-length" not in names and b"transfer-encoding" not in names
        self.keep_alive = bool(self.parser.should_keep_alive())
        if self.head is not None and not self.head.done():
            self.head.set_result((status, self._headers))

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        self._wake.set()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        self._wake.set()

    # -- use ------------------------------------------------------------------------------------

    def _fail(self, error: httpx2.TransportError) -> None:
        if self.complete:
            return
        if self._error is None:
            self._error = error
        if self.head is not None and not self.head.done():
            self.head.set_exception(error)
        self._wake.set()

    def usable(self, now: float, expiry: float) -> bool:
        return (
            not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
            and now - self.idle_since < expiry
        )

    def send(self, data: bytes) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]]:
        """Write one request; the future resolves with the response's status and headers."""
        assert self.transport is not None
        self.head = asyncio.get_running_loop().create_future()
        self.complete = False
        self._error = None
        self._chunks.clear()
        self._buffered = 0
        self._wake.clear()
        self.transport.write(data)
        return self.head

    async def next_chunk(self, timeout: float | None) -> bytes:  # noqa: ASYNC109 (httpx2's read timeout)
        """The next piece of the body; b"" at its end."""
        while not self._chunks:
            if self.complete:
                return b""
            if self._error is not None:
                raise self._error
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                raise httpx2.ReadTimeout(
                    "the upstream sent nothing within the read timeout"
                ) from None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < MAX_BUFFERED // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


Origin = tuple[str, str, int]


class _Body(httpx2.AsyncByteStream):
    """A response body read from its connection; closing it returns the connection to the
    pool when the response was read to its end, and closes it otherwise."""

    def __init__(
        self, pool: Http11Transport, origin: Origin, conn: _Connection, timeout: float | None
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._conn = conn
        self._timeout = timeout
        self._done = False

    async def __aiter__(self) -> Any:
        while True:
            chunk = await self._conn.next_chunk(self._timeout)
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            self._pool.release(self._origin, self._conn)


class Http11Transport(httpx2.AsyncBaseTransport):
    """At most `max_connections` requests in flight (one connection each), at most as many
    kept alive for `keepalive_expiry` seconds (shorter than the 5 s uvicorn and Node keep a
    connection, so a connection is not reused as the server closes it)."""

    def __init__(
        self,
        *,
        allow_private_networks: bool = False,
        max_connections: int = 100,
        keepalive_expiry: float = 4.0,
    ) -> None:
        self.allow_private = allow_private_networks
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._ssl: Any = None
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https") or not url.host:
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        timeouts = request.extensions.get("timeout", {})
        data = _encode(request, await request.aread())
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx2.PoolTimeout("no connection to the upstream became free in time") from None
        try:
            conn = await self._checkout(origin, timeouts.get("connect"))
            try:
                head = conn.send(data)
                async with asyncio.timeout(timeouts.get("read")):
                    status, headers = await head
            except TimeoutError:
                conn.close()
                raise httpx2.ReadTimeout(
                    "the upstream did not answer within the read timeout"
                ) from None
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._slots.release()
            raise
        return httpx2.Response(
            status,
            headers=headers,
            stream=_Body(self, origin, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _checkout(self, origin: Origin, timeout: float | None) -> _Connection:  # noqa: ASYNC109
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now, self.keepalive_expiry):
                return conn
            conn.close()
        try:
            async with asyncio.timeout(timeout):
                return await self._connect(origin)
        except TimeoutError:
            raise httpx2.ConnectTimeout(
                "the upstream did not accept a connection in time"
            ) from None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpx2.ConnectError(
                f"cannot resolve the upstream's host: {exc.strerror}"
            ) from None
        if not self.allow_private and (not addresses or not all(map(is_public, addresses))):
            raise PrivateAddress("the upstream resolves to a non-public address")
        ssl_context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx2.create_ssl_context()
            ssl_context = self._ssl
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for address in addresses:
            try:
                _, conn = await loop.create_connection(
                    _Connection,
                    address,
                    port,
                    ssl=ssl_context,
                    server_hostname=host if ssl_context is not None else None,
                )
                return conn
            except OSError as exc:
                failure = exc
        reason = f"errno {failure.errno}" if failure is not None else "no address"
        raise httpx2.ConnectError(f"cannot connect to the upstream ({reason})")

    def release(self, origin: Origin, conn: _Connection) -> None:
        if self._slots is not None:
            self._slots.release()
        if self._closed or not (conn.complete and conn.keep_alive) or conn.closed:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(origin, [])
        idle.append(conn)
        if len(idle) > self.max_connections:
            idle.pop(0).close()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _encode(request: httpx2.Request, body: bytes) -> bytes:
    """The request's head and body as bytes for one write; a chunked body (read whole above)
    is sent with its length instead."""
    url = request.url
    target = url.raw_path or b"/"
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    length_set = False
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue
        if lowered == b"content-length":
            length_set = True
            value = str(len(body)).encode("ascii")
        lines += [name, b": ", value, b"\r\n"]
    if body and not length_set:
        lines.append(b"Content-Length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)
