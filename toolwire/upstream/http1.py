"""The HTTP/1.1 exchange under an HTTP tool call: a keep-alive pool per origin and httptools' C
parser (llhttp, the one uvicorn already uses), for `PooledTransport.fetch`.

Why our own code here (docs/design/upstream-http-transport.md has the profile): on httpcore2's
pool and h11, the HTTP stack was about half of the ~2,100 Python function calls an HTTP tool call
costs the gateway (h11 ~190, httpcore2 ~190 at c=1 and ~880 at c=32, their isinstance/anyio
calls on top), and the 0.5 ms target was out of reach. Here a request is one socket write and
the answer is parsed in C: a few dozen Python calls.

What it is: `Http1Pool.fetch(request, limit)`: the whole request (an `httpx.Request` whose body is
in memory) written in one write, the whole answer read into `(status, headers, body)`; and
`Http1Pool.open(origin, request bytes)`: the same exchange with the answer read up to its head,
its body then streamed (`Streamed`), under the MCP SDK's client (`upstream.mcp.http1_transport`).
Framing (RFC 9112 §6.3): Content-Length, chunked, or until the server closes; 1xx interim answers
are skipped; a HEAD answer has no body; 204/304 have none (llhttp). A connection goes back to the
pool only when its answer was read whole and both sides keep it alive (llhttp's
`should_keep_alive`), and is dropped when it has been idle `keepalive_expiry` seconds or the server
closed it or sent anything unasked (`is_readable`, three attribute reads on our backend: the event
loop has already read the server's FIN, if it came). At most `max_connections` requests at once per
pool; a caller past that waits up to the timeout (`httpx.PoolTimeout`). Connections come from the
network backend: `AsyncioBackend`, behind the SSRF guard `GuardedBackend` unless the upstream
allows private networks, so every address is checked and pinned as before.

Retried once, on a new connection, and only then (RFC 9110 §9.2.2, RFC 9112 §9.3.1): a request
on a *reused* connection that the server closed or reset (`UNANSWERED`) before a byte of its
answer arrived, when the request is idempotent: its method is in `IDEMPOTENT_METHODS`, or the
caller says so (`idempotent=`, an operation the catalog declares idempotent). A server closing an
idle connection as a request leaves (its keep-alive timer: uvicorn's and Node's 5 s) looks exactly
like a server that read the request, acted on it and died before answering, so a POST is never
sent again once a byte of it was written: it fails (`RemoteProtocolError`/`ReadError`). It
cannot have been written to a connection already seen closed: that one is dropped before the
write, whatever the method. Never retried: a failure on a new connection, an answer begun, a
timeout. docs/design/upstream-http-transport.md ("Keep-alive and retries") has the reasons.

Content codings: `fetch` decodes gzip (and x-gzip) as the body arrives, with `limit` counting
decoded bytes (the inflater never makes more than one byte past it, so a decompression bomb costs
at most `limit`), and refuses any other coding, corrupt or cut-short gzip (`Undecodable`). The
HTTP adapter offers `Accept-Encoding: gzip`. `open` decodes nothing and refuses an answer with a
coding (`RemoteProtocolError`): its caller asks for identity, as a stream has no size cap.

Refused before a byte leaves (`httpx.LocalProtocolError`): a method or header name that is not
an RFC 9110 token, a header value with a control character other than tab (CR/LF/NUL: header
injection), a request target with a space or control character. Errors are httpx's
(`ConnectError`, `ConnectTimeout`, `ReadTimeout`, `WriteTimeout`, `PoolTimeout`, `ReadError`,
`RemoteProtocolError`, `UnsupportedProtocol`), with the SSRF guard's `BlockedAddress` in the
cause chain; an answer over `limit` bytes is `TooLarge` (a declared Content-Length over it is
refused before its body is read).

What it is not: HTTP/2, proxies, redirects (never followed), request streaming, or a retry policy
(backoff, 5xx, 429: the adapter decides those; the one retry above is the connection's).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore2
import httptools
import httpx

from toolwire.upstream.transport import KEEPALIVE_EXPIRY_S, TooLarge, Undecodable, as_httpx

DEFAULT_PORTS = {b"http": 80, b"https": 443}
READ_SIZE = 64 * 1024
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""RFC 9110 §5.6.2 token: a method or a header field name."""
BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
"""RFC 9110 §5.5: a field value may not hold a control character other than HTAB."""
BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""RFC 9110 §9.2.2: a request with one of these methods may be sent again after a connection
failed under it (its effect on the server is the same whether it ran once or twice)."""
UNANSWERED = (httpcore2.ReadError, httpcore2.WriteError, httpx.RemoteProtocolError)
"""What a connection the server closed or reset under a request raises (the backend's read and
write errors, the pool's own "closed mid-answer"): with no byte of an answer read, the request
may be sent again on a new connection (`Http1Pool` docstring, "Retried once")."""
GZIP_WBITS = 16 + zlib.MAX_WBITS
"""zlib's window bits for a gzip stream (header and trailer checked)."""
DECODED = frozenset({b"gzip", b"x-gzip"})
"""Content codings `fetch` decodes (RFC 9110 §8.4.1.3: x-gzip is gzip); any other but identity
is refused (`Undecodable`)."""

Key = tuple[bytes, bytes, int]
"""(scheme, host, port) of an origin: the pool keeps its idle connections by it."""
_UNLIMITED = 1 << 62


class _Answer:
    """httptools callbacks for one answer (interim 1xx answers are skipped). `limit`: bytes of
    body, decoded (a gzip body is inflated at most to it); `refused`: the error class (`TooLarge`,
    `Undecodable`) to raise with the status, once the answer is found unusable; `coding`: the
    answer's Content-Encoding, lowercased (b"" for none or identity)."""

    def __init__(self, limit: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.limit = limit
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.keep_alive = False
        self.body: list[bytes] = []
        self.size = 0
        self.refused: type[TooLarge | Undecodable] | None = None
        self.coding = b""
        self.inflater: Any = None
        self.received = False
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # asked now: once the message is complete, llhttp has reset for the next one
        self.keep_alive = bool(self.parser.should_keep_alive())
        if 100 <= self.status < 200:
            return
        self.head_done = True
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length":
                declared = value.strip()
                if declared.isdigit() and int(declared) > self.limit:
                    self.refused = TooLarge
            elif lower == b"content-encoding":
                coding = value.strip().lower()
                self.coding = b"" if coding == b"identity" else coding

    def on_body(self, body: bytes) -> None:
        if self.refused is not None:
            return
        if self.coding:
            body = self._inflate(body)
            if self.refused is not None:
                return
        self.size += len(body)
        if self.size > self.limit:
            self.refused = TooLarge
        else:
            self.body.append(body)

    def _inflate(self, body: bytes) -> bytes:
        """The decoded bytes of a gzip body's next piece, at most one byte over the limit (a
        decompression bomb stops there); any other coding is refused (`Undecodable`)."""
        if self.coding not in DECODED:
            self.refused = Undecodable
            return b""
        if self.inflater is None:
            self.inflater = zlib.decompressobj(GZIP_WBITS)
        try:
            return bytes(self.inflater.decompress(body, self.limit - self.size + 1))
        except zlib.error:
            self.refused = Undecodable
            return b""

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200 and not self.head_done:
            self.headers = []  # an interim answer: the final one follows
            return
        if self.inflater is not None and not self.inflater.eof and self.refused is None:
            self.refused = Undecodable  # the gzip stream ended early
        self.done = True

    def feed(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise httpx.RemoteProtocolError("the upstream switched protocols") from None
        except httptools.HttpParserError as exc:
            if self.done:  # bytes after a whole answer: the connection is not reused
                self.keep_alive = False
                return
            raise httpx.RemoteProtocolError(f"malformed answer from the upstream: {exc}") from None

    def until_close(self) -> bool:
        """No Content-Length and not chunked: the body ends with the connection."""
        names = {name.lower(): value.lower() for name, value in self.headers}
        return b"content-length" not in names and b"chunked" not in names.get(
            b"transfer-encoding", b""
        )


def request_head(request: httpx.Request) -> bytes:
    """The request line and headers as sent, after the checks in the module docstring."""
    try:
        return encode_head(request.method, request.url.raw_path or b"/", request.headers.raw)
    except httpx.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from None


def encode_head(
    method: str, target: bytes, headers: Iterable[tuple[bytes | str, bytes | str]]
) -> bytes:
    """The request line and `headers` (names and values as bytes, or str in Latin-1) as sent,
    after the checks in the module docstring (`httpx.LocalProtocolError`)."""
    lines = [request_line(method, target)]
    token, bad_value = TOKEN.fullmatch, BAD_VALUE.search
    for name, value in headers:  # `header_line`, inlined: this runs for every header sent
        key = name if isinstance(name, bytes) else name.encode("latin-1")
        data = value if isinstance(value, bytes) else value.encode("latin-1")
        if not token(key) or bad_value(data):
            raise httpx.LocalProtocolError("a header holds a line break or a control character")
        lines.append(key + b": " + data)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def request_line(method: str, target: bytes) -> bytes:
    """`METHOD target HTTP/1.1`, checked as `encode_head` checks it."""
    verb = method.encode("ascii")
    if not TOKEN.fullmatch(verb):
        raise httpx.LocalProtocolError("the method is not a token")
    if BAD_TARGET.search(target):
        raise httpx.LocalProtocolError("the request target holds a space or a control character")
    return verb + b" " + target + b" HTTP/1.1"


def header_line(name: bytes | str, value: bytes | str) -> bytes:
    """`name: value` as sent (str in Latin-1), checked as `encode_head` checks it."""
    key = name if isinstance(name, bytes) else name.encode("latin-1")
    data = value if isinstance(value, bytes) else value.encode("latin-1")
    if not TOKEN.fullmatch(key) or BAD_VALUE.search(data):
        raise httpx.LocalProtocolError("a header holds a line break or a control character")
    return key + b": " + data


class Http1Pool:
    """See the module docstring. `backend`: a network backend (`connect_tcp` returning streams
    with `read`, `write`, `aclose`, `start_tls`, `get_extra_info`); `timeout`: seconds for each
    of the pool wait, connect, write and read."""

    def __init__(
        self,
        backend: Any,
        *,
        max_connections: int,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = None,
    ) -> None:
        self.backend = backend
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.ssl_context = ssl_context
        self.timeout = timeout
        self._idle: dict[Key, list[tuple[Any, float]]] = {}
        self._slots: asyncio.Semaphore | None = None  # made inside the running loop
        self._closed = False

    @property
    def idle_connections(self) -> int:
        return sum(len(conns) for conns in self._idle.values())

    async def fetch(
        self, request: httpx.Request, limit: int, *, idempotent: bool | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """Send `request` and read its whole answer: (status, headers, body), a gzip body
        decoded. `limit`: bytes of body, decoded. `idempotent`: the request may be sent again
        after a reused connection failed under it (default: its method is in
        `IDEMPOTENT_METHODS`). Raises `TooLarge`, `Undecodable` and httpx's transport errors
        (module docstring)."""
        try:
            return await self._fetch(request, limit, idempotent)
        except (TooLarge, Undecodable, httpx.HTTPError):
            raise
        except Exception as exc:
            mapped = as_httpx(exc, request)
            if mapped is exc:
                raise
            raise mapped from None

    async def _fetch(
        self, request: httpx.Request, limit: int, idempotent: bool | None
    ) -> tuple[int, httpx.Headers, bytes]:
        if self._closed:
            raise httpx.ConnectError("the upstream client is closed", request=request)
        url = request.url
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"scheme {scheme!r} is not http(s)", request=request)
        key: Key = (scheme, url.raw_host, url.port or DEFAULT_PORTS[scheme])
        data = request_head(request) + request.content
        method = request.method
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        try:
            await self._acquire()
        except httpx.PoolTimeout as exc:
            raise httpx.PoolTimeout(str(exc), request=request) from None
        try:
            stream, answer = await self._send(
                key, data, limit, method == "HEAD", True, self.timeout, idempotent
            )
        except BaseException:
            self._release()
            raise
        await self._finish(key, stream, answer.keep_alive)
        body = answer.body[0] if len(answer.body) == 1 else b"".join(answer.body)
        return answer.status, httpx.Headers(answer.headers), body

    async def open(
        self,
        key: Key,
        data: bytes,
        *,
        head_only: bool = False,
        idempotent: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (per read/write, as the backend takes it)
    ) -> Streamed:
        """Write `data` (a whole request, `request_head` + body) to `key`'s origin and read its
        answer up to the end of the head: a `Streamed` whose body is read as it arrives
        (`Streamed.chunks()`), for an answer that streams (server-sent events). `idempotent`:
        as `fetch`'s (the caller knows the method). `timeout`: seconds for each read and write
        (a long stream's), else the pool's; the pool wait and the connect take the pool's.
        Raises the backend's transport errors (not mapped to httpx's), httpx's `PoolTimeout`,
        `UnsupportedProtocol` and `RemoteProtocolError` (also for an answer with a content
        coding: none is offered on this path, and none is decoded)."""
        if self._closed:
            raise httpx.ConnectError("the upstream client is closed")
        if key[0] not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"scheme {key[0]!r} is not http(s)")
        await self._acquire()
        each = self.timeout if timeout is None else timeout
        try:
            stream, answer = await self._send(
                key, data, _UNLIMITED, head_only, False, each, idempotent
            )
        except BaseException:
            self._release()
            raise
        if answer.coding:
            await stream.aclose()
            self._release()
            raise httpx.RemoteProtocolError("the upstream sent a content coding it was not offered")
        if head_only:
            answer.done, answer.keep_alive = True, False
        return Streamed(self, key, stream, answer, head_only, each)

    async def _send(
        self,
        key: Key,
        data: bytes,
        limit: int,
        head_only: bool,
        whole: bool,
        timeout: float | None,  # noqa: ASYNC109 (per read/write, as the backend takes it)
        idempotent: bool,
    ) -> tuple[Any, _Answer]:
        """On a slot the caller holds: an idle connection to `key` (or a new one), `data`
        written, the answer read (`whole`, else up to the end of its head). When a *reused*
        connection was closed under an idempotent request before a byte of its answer arrived,
        once more on a new connection (module docstring, "Retried once"). On an error the
        connection is closed (the slot stays the caller's to release)."""
        stream = self._take(key)
        reused = stream is not None
        if not reused:
            stream = await self._connect(key, self.timeout)
        while True:
            answer = _Answer(limit)
            try:
                await stream.write(data, timeout)
                if whole:
                    while not answer.done:
                        await self._read(stream, answer, head_only, timeout)
                        if answer.refused is not None:
                            raise answer.refused(answer.status)
                        if head_only and answer.head_done:
                            answer.done, answer.keep_alive = True, False  # llhttp waits for a body
                else:
                    while not answer.head_done:
                        await self._read(stream, answer, head_only, timeout)
                return stream, answer
            except BaseException as exc:
                await stream.aclose()
                if not (reused and idempotent and not answer.received):
                    raise
                if not isinstance(exc, UNANSWERED):
                    raise
            reused = False
            stream = await self._connect(key, self.timeout)

    async def _read(
        self,
        stream: Any,
        answer: _Answer,
        head_only: bool,
        timeout: float | None,  # noqa: ASYNC109
    ) -> None:
        chunk = await stream.read(READ_SIZE, timeout)
        if not chunk:
            if answer.head_done and not head_only and answer.until_close():
                answer.done, answer.keep_alive = True, False  # the close ended the body
                return
            raise httpx.RemoteProtocolError("the upstream closed the connection mid-answer")
        answer.feed(chunk)

    async def _acquire(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        if not self._slots.locked():  # a slot is free: taken without waiting, so no timer
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no upstream connection free in time") from None

    def _release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def _finish(self, key: Key, stream: Any, keep_alive: bool) -> None:
        """The answer on `stream` was read whole: kept for the next request, or closed."""
        if keep_alive and not self._closed:
            self._idle.setdefault(key, []).append((stream, time.monotonic()))
        else:
            await stream.aclose()
        self._release()

    def _take(self, key: Key) -> Any:
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            stream, since = conns.pop()  # newest first: the likeliest still open
            if now - since <= self.keepalive_expiry and not stream.get_extra_info("is_readable"):
                return stream
            _close_now(stream)
        return None

    async def _connect(self, key: Key, timeout: float | None) -> Any:  # noqa: ASYNC109
        scheme, host, port = key
        name = host.decode("ascii")
        stream = await self.backend.connect_tcp(name, port, timeout=timeout)
        if scheme == b"https":
            context = self.ssl_context or httpx.create_ssl_context()
            self.ssl_context = context
            stream = await stream.start_tls(context, server_hostname=name, timeout=timeout)
        return stream

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for stream, _ in conns:
                await stream.aclose()


class Streamed:
    """An answer whose head was read (`status`, `headers` as sent) and whose body is read as it
    arrives: `chunks()` yields its pieces (de-chunked) and gives the connection back to its pool
    once the answer was read whole; `aclose()` before that closes the connection (its answer's
    rest unread). Either way the pool's slot is released exactly once."""

    def __init__(
        self,
        pool: Http1Pool,
        key: Key,
        stream: Any,
        answer: _Answer,
        head_only: bool,
        timeout: float | None,
    ) -> None:
        self.pool = pool
        self.key = key
        self.stream = stream
        self.answer = answer
        self.head_only = head_only
        self.timeout = timeout
        self.status = answer.status
        self.headers = answer.headers
        self._open = True

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's pieces as they arrive. Raises the backend's read errors and httpx's
        `RemoteProtocolError` (the answer ended early or is malformed)."""
        answer = self.answer
        while True:
            if answer.body:
                pieces, answer.body = answer.body, []
                for piece in pieces:
                    yield piece
            if answer.done:
                break
            try:
                await self.pool._read(self.stream, answer, self.head_only, self.timeout)
            except BaseException:
                await self.aclose()
                raise
        if self._open:
            self._open = False
            await self.pool._finish(self.key, self.stream, answer.keep_alive)

    async def aclose(self) -> None:
        """Ends the answer: the connection goes back to the pool if it was read whole (it may
        have arrived with the head), else it is closed."""
        if not self._open:
            return
        self._open = False
        if self.answer.done and not self.answer.body:
            await self.pool._finish(self.key, self.stream, self.answer.keep_alive)
            return
        await self.stream.aclose()
        self.pool._release()


def _close_now(stream: Any) -> None:
    transport = getattr(stream, "transport", None)
    if transport is not None:
        transport.close()
    else:  # another backend's stream: close it on the loop
        asyncio.get_running_loop().create_task(stream.aclose())
