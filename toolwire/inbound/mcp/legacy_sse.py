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
import functools
import logging
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from toolwire.core.errors import ToolwireError
from toolwire.core.model import Principal
from toolwire.inbound.http import read_body
from toolwire.inbound.mcp import jsonrpc, media, security, sse, versions
from toolwire.inbound.mcp.handlers import Context, new_request_id
from toolwire.inbound.mcp.jsonrpc import INVALID_REQUEST, Notification, RpcError
from toolwire.inbound.mcp.jsonrpc import Request as RpcRequest
from toolwire.inbound.mcp.runtime import TOOLS_CHANGED_CHANNEL, Runtime, runtime_of
from toolwire.inbound.mcp.sessions import Session, SessionNotFound
from toolwire.inbound.mcp.streamable_http import unauthorized
from toolwire.services import Services

log = logging.getLogger("toolwire.mcp")


MESSAGES_RELATIVE = "messages"
"""The POST endpoint relative to the SSE URL (`/sse` and `/messages` are siblings)."""


def _channel(session: Session) -> str:
    return f"mcp:legacy:{session.id}"


def _version_key(session: Session) -> str:
    return f"mcp:legacy-version:{session.id}"


async def _admit(request: Request, send: Send, services: Services, method: str) -> Principal | None:
    """Method, Origin and key checks both legacy endpoints share; None once refused (answered)."""
    if request.method != method:
        await sse.send_empty(send, 405, [(b"allow", method.encode())])
        return None
    if not security.origin_allowed(request, services):
        await sse.send_empty(send, 403)
        return None
    try:
        return await security.authenticate(request, services)
    except ToolwireError as exc:
        await unauthorized(send, services, exc, media.accepts(request.headers.get("accept")))
        return None


class LegacySse:
    """`GET /sse`: open a session and relay its messages until the client leaves."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        services: Services = scope["app"].state.services
        runtime = runtime_of(scope["app"])
        principal = await _admit(request, send, services, "GET")
        if principal is None:
            return
        sealer = runtime.sessions.sealer
        session = sealer.new(versions.LEGACY_SSE_DEFAULT, principal.key_id)
        endpoint = f"{MESSAGES_RELATIVE}?sessionId={sealer.seal(session)}"
        stream = sse.SseStream(send)
        try:
            async with (
                runtime.state.subscribe(_channel(session)) as frames,
                runtime.state.subscribe(TOOLS_CHANGED_CHANNEL) as changes,
            ):
                await stream.start()
                await stream.raw(f"event: endpoint\ndata: {endpoint}\n\n".encode())
                await _relay(stream, receive, frames, changes)
        finally:
            await runtime.sessions.end(session)


async def _relay(stream: sse.SseStream, receive: Receive, frames: Any, changes: Any) -> None:
    changed = jsonrpc.dumps(jsonrpc.notification("notifications/tools/list_changed"))
    gone = asyncio.create_task(sse.wait_disconnect(receive))
    frame_iter, change_iter = frames.__aiter__(), changes.__aiter__()
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
                    next_change.result()
                except StopAsyncIteration:
                    return
                await stream.event(changed)
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
        request = Request(scope, receive)
        services: Services = scope["app"].state.services
        runtime = runtime_of(scope["app"])
        principal = await _admit(request, send, services, "POST")
        if principal is None:
            return
        accepts = media.accepts(request.headers.get("accept"))
        token = request.query_params.get("sessionId") or request.query_params.get("session_id")
        if not token:
            err = RpcError(INVALID_REQUEST, "sessionId is required")
            await sse.send_reply(send, jsonrpc.error(None, err), accepts=accepts, status=400)
            return
        try:
            session = await runtime.sessions.resume(token, principal.key_id)
            body = jsonrpc.loads(await read_body(request, services.settings.max_body_bytes))
            message = jsonrpc.parse_message(body)
        except SessionNotFound:
            err = RpcError(INVALID_REQUEST, "session not found")
            await sse.send_reply(send, jsonrpc.error(None, err), accepts=accepts, status=404)
            return
        except (RpcError, ToolwireError) as exc:
            err = exc if isinstance(exc, RpcError) else RpcError(INVALID_REQUEST, exc.message)
            await sse.send_reply(send, jsonrpc.error(None, err), accepts=accepts, status=400)
            return
        await sse.send_empty(send, 202)
        if isinstance(message, Notification):
            if message.method == "notifications/cancelled":
                await runtime.cancel(session.id, message.params.get("requestId"))
            return
        if isinstance(message, RpcRequest):
            task = asyncio.create_task(_answer(runtime, session, principal, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            runtime.track(session.id, message.id, task)


async def _answer(runtime: Runtime, session: Session, principal: Any, request: RpcRequest) -> None:
    channel = _channel(session)

    async def emit(message: dict[str, Any]) -> None:
        await runtime.state.publish(channel, jsonrpc.dumps(message))

    ttl = session.remaining()
    if request.method == "initialize":
        version = versions.negotiate(request.params.get("protocolVersion"))
        await runtime.state.set(_version_key(session), version.encode(), ttl)
        reply = jsonrpc.result(request.id, runtime.handlers.initialize_result(version))
        await emit(reply)
        return
    stored = await runtime.state.get(_version_key(session))
    version = stored.decode() if stored else versions.LEGACY_SSE_DEFAULT
    ctx = Context(
        principal=principal,
        version=version,
        era="handshake",
        request_id=new_request_id(),
        emit=emit,
        log_level=await runtime.sessions.log_level(session),
        set_log_level=functools.partial(runtime.sessions.set_log_level, session),
        tools_changed=runtime.tools_changed,
    )
    try:
        reply = jsonrpc.result(request.id, await runtime.handlers.handle(ctx, request))
    except RpcError as err:
        reply = jsonrpc.error(request.id, err)
    except asyncio.CancelledError:
        return
    except Exception:
        log.exception("MCP handler failed", extra={"request_id": ctx.request_id})
        reply = jsonrpc.error(request.id, RpcError(jsonrpc.INTERNAL_ERROR, "internal error"))
    await emit(reply)
