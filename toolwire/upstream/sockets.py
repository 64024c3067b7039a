"""The outbound sockets under every upstream's HTTP client: plain asyncio, no anyio layer.

What it is: `AsyncioBackend`, an `httpcore.AsyncNetworkBackend` whose streams are an
`asyncio.Protocol` and its transport (TCP, TLS through `loop.start_tls`). httpcore's own backend
under asyncio goes through anyio, and its pool asks every idle connection, on every request,
whether the server closed it (`get_extra_info("is_readable")`): through anyio that is a typed
attribute look-up and a `poll()` system call per idle connection per request, which a profile at
c=32 showed as a sixth of the gateway's CPU on an HTTP tool call. Here the event loop already
reads every socket it holds, so a connection is "readable" when its protocol has buffered data,
seen EOF, or lost the connection: three attribute reads, no system call.

Timeouts are httpcore's (`ReadTimeout`, `WriteTimeout`, `ConnectTimeout`); socket errors map to
`ReadError`, `WriteError` and `ConnectError` as in httpcore's backends.

Two httpcores: httpx's `httpcore` and the mcp SDK's fork `httpcore2` declare the same backend and
stream interface (`connect_tcp`, `connect_unix_socket`, `sleep`; `read`, `write`, `aclose`,
`start_tls`, `get_extra_info`) but their own exception classes, which their pools catch by class
(a connect retry catches `ConnectError`). So `AsyncioBackend(errors=httpcore2)` raises
httpcore2's; the default raises httpcore's. The classes subclass httpcore's base classes for
mypy; httpcore2's pool duck-types its backend.

What it is not: the SSRF guard (`toolwire.upstream.net.GuardedBackend` wraps this backend and
passes it only addresses it checked) or a connection pool (httpcore's).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from types import ModuleType
from typing import Any, cast

import httpcore

from toolwire.core.deadline import Deadline

READ_BUFFER_LIMIT = 256 * 1024
"""Bytes buffered from a socket before reading from it pauses (flow control)."""
COALESCE_BYTES = 64 * 1024
"""Bytes a coalescing stream holds before it writes without waiting for the next read."""


class _Protocol(asyncio.Protocol):
    """Buffers what the loop reads; wakes the one reader (HTTP/1.1: one request at a time)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.write_paused = False
        self.read_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not asyncio subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_BUFFER_LIMIT and self.transport is not None:
            self.transport.pause_reading()
            self.read_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._wake()
        self._drained()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._drained()

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drained(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: `read`, `write`, `start_tls`, and the extra info httpcore asks for.

    `coalesce`: writes are held until the next `read` (or until `COALESCE_BYTES` are held), so
    an HTTP/1.1 request's head and body, which the pool writes separately, leave in one socket
    write (one system call, one TCP segment). The pool always reads after writing a request;
    a write error then surfaces at that read (as `ReadError`), as a server that closed early
    already does."""

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _Protocol,
        errors: ModuleType = httpcore,
        coalesce: bool = False,
    ) -> None:
        self.transport = transport
        self.protocol = protocol
        self.errors = errors
        self.coalesce = coalesce
        self.held = bytearray()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        if self.held:
            await self._flush(timeout)
        p = self.protocol
        if not p.buffer and not p.eof and not p.lost:
            p.waiter = asyncio.get_running_loop().create_future()
            # `core.deadline.Deadline`, asyncio.timeout's contract on one sweep per loop: no
            # timer handle made and closed per read (the HTTP tool's hot path)
            try:
                async with Deadline(None) if timeout is None else Deadline.after(timeout):
                    await p.waiter
            except TimeoutError:
                raise self.errors.ReadTimeout("timed out reading from the upstream") from None
        if p.buffer:
            data = bytes(p.buffer[:max_bytes])
            del p.buffer[:max_bytes]
            if p.read_paused and len(p.buffer) <= READ_BUFFER_LIMIT // 2 and not p.lost:
                p.read_paused = False
                self.transport.resume_reading()
            return data
        if p.lost and p.error is not None:
            raise self.errors.ReadError(str(p.error) or type(p.error).__name__)
        return b""  # EOF: httpcore reports the server's disconnect

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        if self.coalesce:
            self.held += buffer
            if len(self.held) >= COALESCE_BYTES:
                await self._flush(timeout)
            return
        await self._send(buffer, timeout)

    async def _flush(self, timeout: float | None) -> None:  # noqa: ASYNC109
        held, self.held = bytes(self.held), bytearray()
        try:
            await self._send(held, timeout)
        except self.errors.WriteError as exc:
            raise self.errors.ReadError(str(exc)) from None

    async def _send(self, buffer: bytes, timeout: float | None) -> None:  # noqa: ASYNC109
        p = self.protocol
        if p.lost or self.transport.is_closing():
            raise self.errors.WriteError("the upstream connection is closed")
        self.transport.write(buffer)
        if p.write_paused and not p.lost:
            p.drained = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await p.drained
            except TimeoutError:
                raise self.errors.WriteTimeout("timed out writing to the upstream") from None
            if p.lost:
                raise self.errors.WriteError("the upstream connection is closed")

    async def aclose(self) -> None:
        self.held.clear()
        self.transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    self.transport, self.protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self.transport.close()
            raise self.errors.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError) as exc:
            self.transport.close()
            raise self.errors.ConnectError(str(exc)) from None
        if tls is None:
            raise self.errors.ConnectError("the TLS handshake did not complete")
        self.protocol.transport = tls  # flow control now pauses and resumes the TLS transport
        return AsyncioStream(tls, self.protocol, self.errors, self.coalesce)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            p = self.protocol
            return bool(p.buffer) or p.eof or p.lost or self.transport.is_closing()
        if info == "ssl_object":
            return self.transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self.transport.get_extra_info("sockname")
        if info == "server_addr":
            return self.transport.get_extra_info("peername")
        if info == "socket":
            return self.transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections on the running event loop (asyncio or uvloop), with TCP_NODELAY.
    `errors`: the module whose exception classes it raises (`httpcore`, or `httpcore2`);
    `coalesce`: its streams write a request in one system call (`AsyncioStream`)."""

    def __init__(self, errors: ModuleType = httpcore, coalesce: bool = False) -> None:
        self.errors = errors
        self.coalesce = coalesce

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=local
                )
        except TimeoutError:
            raise self.errors.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise self.errors.ConnectError(str(exc)) from None
        sock = transport.get_extra_info("socket")
        # No Nagle delay: a request goes in one write and waits for its answer (uvloop does
        # not set this by default on an outgoing connection).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, protocol, self.errors, self.coalesce)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise self.errors.ConnectError("unix sockets are not reachable upstreams")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
