"""The deprecated HTTP+SSE transport (MCP 2024-11-05): `GET /sse` and `POST /messages`.

The client opens `GET /sse`; the first event, `endpoint`, names the URL to POST messages to:
`messages?sessionId=<sealed session>`, a reference relative to the SSE URL (RFC 3986 §5), so it
resolves to the sibling `/messages` under whatever path prefix the client reached `/sse` by
(a reverse proxy that strips `/tw`, an ASGI `root_path`), with no setting to keep in step.

Each POST is answered `202 Accepted`; the JSON-RPC answer travels on the SSE stream. The
session id is the same sealed token as Streamable HTTP's (bound to the key, verifiable by any
instance), so a POST may land on any instance: it is handled there, and its answer and
notifications are published on the session's channel in the state backend, which the instance
holding the stream relays. Closing the stream ends the session.

What this is not: a second implementation of MCP methods (they are `handlers`), or a place for
modern-era features (2026-07-28 has no such transport).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.inbound import tracecontext
from toolwire.inbound.disconnect import wait_disconnect
from toolwire.inbound.face import Face
from toolwire.inbound.http import read_body
from toolwire.inbound.mcp import changes, jsonrpc, security, sse, versions
from toolwire.inbound.mcp.exchange import Exchange
from toolwire.inbound.mcp.jsonrpc import Notification, RpcError, RpcRequest
from toolwire.inbound.mcp.kernel import Connection
from toolwire.inbound.mcp.runtime import Runtime

log = logging.getLogger("toolwire.mcp")


MESSAGES_RELATIVE = "messages"
"""The POST endpoint relative to the SSE URL (`/sse` and `/messages` are siblings)."""


def _channel(session_id: str) -> str:
    return f"mcp:legacy:{session_id}"


class LegacySse:
    """`GET /sse`: open a session and relay its messages until the client leaves."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange.start(scope, receive, send)
        runtime = ex.runtime
        try:
            principal = await security.admit(ex.request, ex.services, ("GET",))
        except ToolwireError as refused:
            await ex.refuse(refused)
            return
        sealer = runtime.sessions.sealer
        session = sealer.new(versions.LEGACY_SSE_DEFAULT, principal.key_id)
        endpoint = f"{MESSAGES_RELATIVE}?sessionId={sealer.seal(session)}"
        stream = sse.SseStream(send)
        try:
            async with (
                runtime.state.subscribe(_channel(session.id)) as frames,
                runtime.state.subscribe(changes.CHANNEL) as feed,
            ):
                await stream.start()
                await stream.raw(f"event: endpoint\ndata: {endpoint}\n\n".encode())
                await _relay(stream, receive, frames, feed, runtime, session.id)
        finally:
            await runtime.sessions.end(session)


async def _relay(
    stream: sse.SseStream,
    receive: Receive,
    frames: Any,
    feed: Any,
    runtime: Runtime,
    session_id: str,
) -> None:
    """The session's own frames (answers), every list change, and the updates of the resources
    this session subscribed to, until the client goes away."""
    gone = asyncio.create_task(wait_disconnect(receive))
    frame_iter, change_iter = frames.__aiter__(), feed.__aiter__()
    next_frame = asyncio.create_task(frame_iter.__anext__())
    next_change = asyncio.create_task(change_iter.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait(
                {gone, next_frame, next_change},
                timeout=sse.KEEPALIVE_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if gone in done:
                return
            if next_frame in done:
                try:
                    await stream.event(next_frame.result())
                except StopAsyncIteration:
                    return
                next_frame = asyncio.create_task(frame_iter.__anext__())
            if next_change in done:
                try:
                    change = changes.parse(next_change.result())
                except StopAsyncIteration:
                    return
                if change is not None and (
                    change.kind != "updated"
                    or await runtime.subscriptions.holds(session_id, change.uri)
                ):
                    await stream.event(jsonrpc.dumps(change.frame()))
                next_change = asyncio.create_task(change_iter.__anext__())
            if not done:
                await stream.comment()
    finally:
        for task in (gone, next_frame, next_change):
            task.cancel()


class LegacyMessages:
    """`POST /messages?sessionId=...`: accept a message (202) and answer it on the stream."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange.start(scope, receive, send)
        runtime = ex.runtime
        try:
            conn, message = await _accept(ex.request, ex.services, runtime)
        except ToolwireError as refused:
            await ex.refuse(refused)
            return
        except RpcError as err:
            reply = jsonrpc.error(None, err)
            status = jsonrpc.HANDSHAKE_HTTP_STATUS.get(err.code, HTTPStatus.BAD_REQUEST)
            await sse.send_reply(send, reply, status, accepts=ex.accepts)
            return
        await sse.send_empty(send, HTTPStatus.ACCEPTED)
        if isinstance(message, Notification):
            await runtime.kernel.receive(conn, message)
        elif isinstance(message, RpcRequest):
            task = asyncio.create_task(_answer(runtime, conn, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            runtime.track(conn.id, message.id, task)


async def _accept(
    request: Request, services: Face, runtime: Runtime
) -> tuple[Connection, jsonrpc.Message]:
    """The session's Connection (one state read) and the message of a POST; typed refusals,
    or `RpcError` for a message that does not parse."""
    principal = await security.admit(request, services, ("POST",))
    token = request.query_params.get("sessionId") or request.query_params.get("session_id")
    if not token:
        raise InvalidRequest("sessionId is required")
    session = await runtime.sessions.resume(token, principal.key_id)
    body = jsonrpc.loads(await read_body(request, services.settings.max_body_bytes))
    tracecontext.into_meta(body, request.headers)  # SEP-414: the message's own _meta wins
    return runtime.connection(principal, session), jsonrpc.parse_message(body)


async def _answer(runtime: Runtime, conn: Connection, request: RpcRequest) -> None:
    """Handle the request in the kernel; its notifications and answer go out on the session's
    channel, which the instance holding the SSE stream relays. A cancelled call sends nothing."""
    channel = _channel(conn.id)

    async def emit(message: dict[str, Any]) -> None:
        await runtime.state.publish(channel, jsonrpc.dumps(message))

    with contextlib.suppress(asyncio.CancelledError):
        await emit(await runtime.kernel.request(conn, request, emit))
