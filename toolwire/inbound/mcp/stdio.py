"""MCP over stdio: newline-delimited JSON-RPC on stdin/stdout, nothing else on stdout.

Two ways to serve it (`toolwire stdio`):

- `serve_local`: the gateway runs in this process (no HTTP server); each line is handled by the
  same `Handlers` as the HTTP transports, for the principal of the key given on the command line.
  One connection is one session: its version, log level and running calls live here. Requests run
  concurrently, so `notifications/cancelled` reaches a running call (the core then releases its
  credits). Both eras work: a request whose `_meta` carries a 2026-07-28 protocol version is
  handled statelessly.
- `bridge` (its own module, `bridge.py`): each line is forwarded to a remote gateway's `/mcp`.

Logs go to stderr only (protocols.md §2.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from toolwire.core.model import Principal
from toolwire.inbound.mcp import batch, envelope, jsonrpc, versions
from toolwire.inbound.mcp.handlers import Context, Handlers, new_request_id
from toolwire.inbound.mcp.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    Notification,
    Request,
    RpcError,
)
from toolwire.inbound.mcp.runtime import TOOLS_CHANGED_CHANNEL
from toolwire.services import Services

log = logging.getLogger("toolwire.mcp.stdio")
Write = Callable[[dict[str, Any] | list[Any]], Awaitable[None]]
MAX_LINE_BYTES = 16 * 1024 * 1024
BATCHES_ONLY = "JSON-RPC batches are accepted only in 2025-03-26 sessions"


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
    """One stdio client of an in-process gateway."""

    def __init__(self, services: Services, principal: Principal, write: Write) -> None:
        self.services = services
        self.handlers = Handlers(services.gateway)
        self.principal = principal
        self.write = write
        self.version: str | None = None
        self.log_level: str | None = None
        self.capabilities: dict[str, Any] = {}
        self.running: dict[Any, asyncio.Task[Any]] = {}
        self.batches: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader) -> None:
        async with self.services.state.subscribe(TOOLS_CHANGED_CHANNEL) as changes:
            relay = asyncio.create_task(self._relay_changes(changes))
            try:
                async for line in lines(reader):
                    await self._line(line)
                if self.running or self.batches:
                    pending = [*self.running.values(), *self.batches]
                    await asyncio.gather(*pending, return_exceptions=True)
            finally:
                relay.cancel()

    async def _relay_changes(self, changes: Any) -> None:
        async for _ in changes:
            if self.version is not None:
                await self.write(jsonrpc.notification("notifications/tools/list_changed"))

    async def _line(self, line: bytes | None) -> None:
        try:
            if line is None:
                raise RpcError(INVALID_REQUEST, "message too large")
            body = jsonrpc.loads(line)
        except RpcError as err:
            await self.write(jsonrpc.error(None, err))
            return
        if isinstance(body, list):
            task = asyncio.create_task(self._batch(body))  # its calls stay cancellable
            self.batches.add(task)
            task.add_done_callback(self.batches.discard)
            return
        try:
            message = jsonrpc.parse_message(body)
        except RpcError as err:
            await self.write(jsonrpc.error(jsonrpc.request_id_of(body), err))
            return
        if isinstance(message, Notification):
            self._notification(message)
        elif isinstance(message, Request):
            task = asyncio.create_task(self._request(message))
            self.running[message.id] = task
            task.add_done_callback(functools.partial(self._finished, message.id))

    def _finished(self, rid: Any, _task: asyncio.Task[None]) -> None:
        self.running.pop(rid, None)

    async def _batch(self, items: list[Any]) -> None:
        if not items:
            await self.write(batch.refused(batch.EMPTY))
            return
        if self.version is None or not versions.batches_allowed(self.version):
            await self.write(batch.refused(BATCHES_ONLY))
            return

        async def notify(message: Notification) -> None:
            self._notification(message)

        def track(rid: Any, task: asyncio.Task[Any]) -> None:
            self.running[rid] = task
            task.add_done_callback(functools.partial(self._finished, rid))

        replies = await batch.answer(items, notify=notify, request=self._answer, track=track)
        if replies is not None:
            await self.write(replies)

    def _notification(self, message: Notification) -> None:
        if message.method == "notifications/cancelled":
            task = self.running.get(message.params.get("requestId"))
            if task is not None:
                task.cancel()

    async def _request(self, request: Request) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.write(await self._answer(request))

    async def _answer(self, request: Request) -> dict[str, Any]:
        try:
            if request.method == "initialize" and envelope.meta_version(request.params) is None:
                return jsonrpc.result(request.id, self._initialize(request))
            ctx = self._context(request)
            return jsonrpc.result(request.id, await self.handlers.handle(ctx, request))
        except RpcError as err:
            return jsonrpc.error(request.id, err)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("MCP handler failed")
            return jsonrpc.error(request.id, RpcError(jsonrpc.INTERNAL_ERROR, "internal error"))

    def _initialize(self, request: Request) -> dict[str, Any]:
        requested = request.params.get("protocolVersion")
        if not isinstance(requested, str):
            raise RpcError(INVALID_PARAMS, "initialize needs params.protocolVersion, a string")
        self.version = versions.negotiate(requested)
        caps = request.params.get("capabilities")
        self.capabilities = caps if isinstance(caps, dict) else {}
        return self.handlers.initialize_result(self.version)

    def _context(self, request: Request) -> Context:
        modern = envelope.meta_version(request.params)
        if modern is not None:
            meta = _modern_meta(request)
            return Context(
                principal=self.principal,
                version=meta.version,
                era="modern",
                request_id=new_request_id(),
                emit=self.write,
                log_level=meta.log_level,
                client_capabilities=meta.client_capabilities,
                tools_changed=self._tools_changed,
            )
        if self.version is None and request.method != "ping":
            raise RpcError(INVALID_REQUEST, "send initialize first")

        async def set_level(level: str) -> None:
            self.log_level = level

        return Context(
            principal=self.principal,
            version=self.version or versions.LATEST_HANDSHAKE,
            era="handshake",
            request_id=new_request_id(),
            emit=self.write,
            log_level=self.log_level,
            set_log_level=set_level,
            client_capabilities=self.capabilities,
            tools_changed=self._tools_changed,
        )

    async def _tools_changed(self) -> None:
        await self.services.state.publish(TOOLS_CHANGED_CHANNEL, b"tools")


def _modern_meta(request: Request) -> envelope.ModernMeta:
    """The modern `_meta` check without HTTP headers (stdio has none to mirror)."""
    headers = {
        "mcp-protocol-version": envelope.meta_version(request.params) or "",
        "mcp-method": request.method,
    }
    name_field = envelope.NAME_FIELDS.get(request.method)
    if name_field is not None and isinstance(request.params.get(name_field), str):
        headers["mcp-name"] = request.params[name_field]
    return envelope.check_modern(request, headers, envelope.no_schemas)


async def serve_local(services: Services, principal: Principal) -> None:
    reader, write = await stdio_streams()
    await LocalConnection(services, principal, write).serve(reader)
