"""MCP over stdio: newline-delimited JSON-RPC on stdin/stdout, nothing else on stdout.

Two ways to serve it (`toolwire stdio`):

- `serve_local`: the gateway runs in this process (no HTTP server); each line goes to the same
  connection kernel (`kernel.Kernel.receive`) as the HTTP transports, for the principal of the
  key given on the command line. One process is one `Connection`, held here in memory (nothing
  is sealed or stored). Requests run concurrently, tracked by the runtime, so
  `notifications/cancelled` reaches a running call (the core then releases its credits). Both
  eras work: a request whose `_meta` carries a 2026-07-28 protocol version gets its own
  stateless Connection. A list change a tool makes here goes through the runtime too, into the
  shared event log, so HTTP streams of other instances can replay it; stdio itself has nothing
  to resume (its stream is the process: no reconnect, no `Last-Event-ID`).
  When the store cannot be reached at start (`Unavailable`), the process still speaks MCP:
  `serve_local` answers each request with the `Unavailable` error (in `jsonrpc.CORE_ERRORS`'s
  form, the same answer the HTTP doors give) and tries to start again, at most once per the
  error's `retry_after_s`, when a request comes; once started, that request is served.
- `bridge` (its own module, `bridge.py`): each line is forwarded to a remote gateway's `/mcp`.

Logs go to stderr only (protocols.md §2.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from toolwire.core.errors import Unavailable
from toolwire.core.model import Principal
from toolwire.inbound.face import Face
from toolwire.inbound.mcp import changes, envelope, jsonrpc
from toolwire.inbound.mcp.jsonrpc import INVALID_REQUEST, Notification, RpcError, RpcRequest
from toolwire.inbound.mcp.kernel import Connection, new_connection_id
from toolwire.inbound.mcp.runtime import Runtime

log = logging.getLogger("toolwire.mcp.stdio")
Write = Callable[[dict[str, Any] | list[Any]], Awaitable[None]]
MAX_LINE_BYTES = 16 * 1024 * 1024


async def stdio_streams() -> tuple[asyncio.StreamReader, Write]:
    """Async line reader over stdin and a locked line writer over stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    lock = asyncio.Lock()
    out = sys.stdout.buffer

    async def write(message: dict[str, Any] | list[Any]) -> None:
        async with lock:
            out.write(jsonrpc.dumps(message) + b"\n")
            out.flush()

    return reader, write


async def lines(reader: asyncio.StreamReader) -> Any:
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # a line over the limit
            yield None
            continue
        if not line:
            return
        if line.strip():
            yield line


class LocalConnection:
    """One stdio client of an in-process gateway: bytes in and out, one `Connection`."""

    def __init__(self, services: Face, principal: Principal, write: Write) -> None:
        self.services = services
        self.runtime = Runtime(services)
        self.kernel = self.runtime.kernel
        self.conn = Connection(principal, new_connection_id())
        self.write = write
        self.pending: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, first: bytes | None = None) -> None:
        """Serve `first` (a line already read), then every line of `reader` until it ends."""
        state = self.services.state
        async with state.subscribe(changes.CHANNEL) as feed:
            relay = asyncio.create_task(self._relay_changes(feed))
            try:
                if first is not None:
                    await self._line(first)
                async for line in lines(reader):
                    await self._line(line)
                if self.pending:
                    await asyncio.gather(*self.pending, return_exceptions=True)
            finally:
                relay.cancel()
                await self.runtime.aclose()

    async def _relay_changes(self, feed: Any) -> None:
        """List changes once the client initialised, and `notifications/resources/updated` for
        the resources this client subscribed to."""
        async for raw in feed:
            change = changes.parse(raw)
            if change is None or self.conn.version is None:
                continue
            if change.kind != "updated" or await self.runtime.subscriptions.holds(
                self.conn.id, change.uri
            ):
                await self.write(change.frame())

    async def _line(self, line: bytes | None) -> None:
        try:
            if line is None:
                raise RpcError(INVALID_REQUEST, "message too large")
            body = jsonrpc.loads(line)
        except RpcError as err:
            await self.write(jsonrpc.error(None, err))
            return
        if isinstance(body, list):
            self._run(self._batch(body))  # its calls stay cancellable
            return
        try:
            message = jsonrpc.parse_message(body)
        except RpcError as err:
            await self.write(jsonrpc.error(jsonrpc.request_id_of(body), err))
            return
        if isinstance(message, RpcRequest):
            task = self._run(self._request(message))
            self.runtime.track(self.conn.id, message.id, task)
        elif isinstance(message, Notification):
            await self.kernel.receive(self.conn, message)

    def _run(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        return task

    async def _batch(self, items: list[Any]) -> None:
        def track(rid: Any, task: asyncio.Task[Any]) -> None:
            self.runtime.track(self.conn.id, rid, task)

        replies = await self.kernel.batch(self.conn, items, track=track)
        if replies is not None:
            await self.write(replies)

    async def _request(self, request: RpcRequest) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.write(await self._answer(request))

    async def _answer(self, request: RpcRequest) -> dict[str, Any]:
        conn = self.conn
        if envelope.meta_version(request.params) is not None:
            headers = envelope.mirrored_headers(request)
            try:
                conn = self.kernel.modern(
                    conn.principal, request, headers, envelope.no_schemas, conn.id
                )
            except RpcError as err:
                return jsonrpc.error(request.id, err)
        return await self.kernel.request(conn, request, self.write)


Stop = Callable[[], Awaitable[None]]
Started = tuple[Face, Principal, Stop]
Start = Callable[[], Awaitable[Started]]
"""Builds the gateway and authenticates the key: its face, the key's principal, and how to stop
it. Raises `Unavailable` when the store cannot be reached (anything else ends the process, e.g.
`Unauthenticated` for a bad key)."""

START_TIMEOUT_S = 15.0
"""Bound of one start attempt (a database that does not answer must not hold a request)."""


async def serve_local(start: Start) -> None:
    """Serve MCP on stdin/stdout with the gateway `start` starts (stopped at the end)."""
    reader, write = await stdio_streams()
    started = await _until_started(start, reader, write)
    if started is None:
        return  # stdin ended before the gateway could start
    (face, principal, stop), first = started
    try:
        await LocalConnection(face, principal, write).serve(reader, first)
    finally:
        await stop()


async def _attempt(start: Start) -> Started:
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            return await start()
    except TimeoutError:
        raise Unavailable from None


async def _until_started(
    start: Start, reader: asyncio.StreamReader, write: Write
) -> tuple[Started, bytes | None] | None:
    """Start; while the store is unreachable, answer requests with `Unavailable` and try again
    (at most once per `retry_after_s`) when one comes. Returns what started and the request
    line that found it started (None when it started at once), or None when stdin ended."""
    try:
        return await _attempt(start), None
    except Unavailable as error:
        failure = error
    failed_at = time.monotonic()
    log.warning("the store cannot be reached; answering requests with %s", failure.code)
    async for line in lines(reader):
        if time.monotonic() - failed_at >= float(failure.retry_after_s):
            try:
                return await _attempt(start), line
            except Unavailable as error:
                failure, failed_at = error, time.monotonic()
        await _refuse(line, failure, write)
    return None


async def _refuse(line: bytes | None, error: Unavailable, write: Write) -> None:
    """Answer each request of `line` (one message or a batch) with `error`."""
    try:
        body = jsonrpc.loads(line) if line is not None else None
    except RpcError as err:
        await write(jsonrpc.error(None, err))
        return
    rpc = jsonrpc.from_core(error)
    items = body if isinstance(body, list) else [body]
    replies = [
        jsonrpc.error(rid, rpc)
        for item in items
        if isinstance(item, dict) and "method" in item
        for rid in [jsonrpc.request_id_of(item)]
        if rid is not None
    ]
    if replies:
        await write(replies if isinstance(body, list) else replies[0])
