"""MCP Streamable HTTP at `/mcp` (and `/mcp/`, served directly: no redirect), both eras at once.

Each POST is classified on its own (protocols.md §7.2):

    initialize (no modern `_meta`)       handshake: negotiate, seal a session into Mcp-Session-Id
    `_meta` protocolVersion present      modern 2026-07-28: stateless, headers checked vs the body
    Mcp-Session-Id present               handshake: open the sealed session, then dispatch
    server/discover, modern version hdr  modern (and its validation explains what is missing)
    anything else                        handshake request without a session: 400

GET opens the session's stream for `notifications/tools/list_changed`, with event ids from
2025-03-26 on, and `Last-Event-ID` replays what the stream missed (`resume`); DELETE ends the
session. Both are handshake-era only: a modern request for them gets 405, as 2026-07-28 says
(it has no resumability, so `Last-Event-ID` is never read for it).

Order of checks on every request: Origin/Host (403), credential (401), media types (406/415),
body size (413), JSON (400 -32700), JSON-RPC shape (400 -32600), then the era's own rules.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from toolwire.core.errors import PayloadTooLarge, ToolwireError, Unauthenticated
from toolwire.core.model import Principal
from toolwire.inbound.http import read_body
from toolwire.inbound.mcp import batch, envelope, jsonrpc, media, resume, security, sse, versions
from toolwire.inbound.mcp.handlers import Context, new_request_id
from toolwire.inbound.mcp.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    Message,
    Notification,
    RpcError,
)
from toolwire.inbound.mcp.jsonrpc import (
    Request as RpcRequest,
)
from toolwire.inbound.mcp.jsonrpc import (
    Response as RpcResponse,
)
from toolwire.inbound.mcp.runtime import TOOLS_CHANGED_CHANNEL, Runtime, runtime_of
from toolwire.inbound.mcp.sessions import Session, SessionNotFound
from toolwire.services import Services

log = logging.getLogger("toolwire.mcp")

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
LAST_EVENT_ID_HEADER = "last-event-id"
ALLOW = [(b"allow", b"GET, POST, DELETE")]
BATCHES_ONLY = "JSON-RPC batches are accepted only in 2025-03-26 sessions"


class McpEndpoint:
    """The ASGI app behind `/mcp`: one instance serves every request of every app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        services: Services = scope["app"].state.services
        runtime = runtime_of(scope["app"])
        accepts = media.accepts(request.headers.get("accept"))
        if not security.origin_allowed(request, services):
            err = RpcError(INVALID_REQUEST, "origin not allowed", {"code": "FORBIDDEN"})
            await sse.send_reply(send, jsonrpc.error(None, err), 403, accepts=accepts)
            return
        try:
            principal = await security.authenticate(request, services)
        except ToolwireError as exc:
            await unauthorized(send, services, exc, accepts)
            return
        method = request.method
        if method == "POST":
            await Post(request, send, services, runtime, principal).run()
        elif method in ("GET", "DELETE"):
            await _session_verb(request, send, runtime, principal)
        else:
            await sse.send_empty(send, 405, ALLOW)


async def unauthorized(
    send: Send, services: Services, exc: ToolwireError, accepts: media.Accepts = media.ANY
) -> None:
    error = exc if isinstance(exc, Unauthenticated) else Unauthenticated()
    err = RpcError(INVALID_REQUEST, error.message, error.to_dict())
    headers = [(b"www-authenticate", security.challenge(services, error).encode())]
    await sse.send_reply(send, jsonrpc.error(None, err), 401, headers, accepts=accepts)


class Post:
    """One POST to /mcp, from the raw body to the answer."""

    def __init__(
        self, request: Request, send: Send, services: Services, runtime: Runtime, who: Principal
    ) -> None:
        self.request = request
        self.send = send
        self.services = services
        self.runtime = runtime
        self.principal = who
        self.accepts = media.accepts(request.headers.get("accept"))

    async def run(self) -> None:
        try:
            body = await self._body()
        except RpcError as err:
            await self._error(None, err, "handshake")
            return
        if isinstance(body, list):
            await self._batch(body)
            return
        try:
            message = jsonrpc.parse_message(body)
        except RpcError as err:
            await self._error(jsonrpc.request_id_of(body), err, "handshake")
            return
        await self._one(message)

    async def _body(self) -> Any:
        content_type = self.request.headers.get("content-type", "application/json").lower()
        if "json" not in content_type:
            raise RpcError(
                INVALID_REQUEST, "Content-Type must be application/json", http_status=415
            )
        if self.accepts.nothing:
            raise RpcError(
                INVALID_REQUEST,
                "Accept must allow application/json or text/event-stream",
                http_status=406,
            )
        try:
            raw = await read_body(self.request, self.services.settings.max_body_bytes)
        except PayloadTooLarge as exc:
            raise RpcError(INVALID_REQUEST, exc.message, exc.to_dict(), http_status=413) from None
        except ToolwireError as exc:
            raise RpcError(INVALID_REQUEST, exc.message, exc.to_dict()) from None
        if not raw:
            raise RpcError(INVALID_REQUEST, "the body is empty")
        return jsonrpc.loads(raw)

    async def _one(self, message: Message) -> None:
        headers = self.request.headers
        params = message.params if isinstance(message, (RpcRequest, Notification)) else {}
        meta_version = envelope.meta_version(params)
        method = message.method if isinstance(message, (RpcRequest, Notification)) else None
        if method == "initialize" and meta_version is None and isinstance(message, RpcRequest):
            await self._initialize(message)
        elif meta_version is not None:
            await self._modern(message)
        elif headers.get(SESSION_HEADER) is not None:
            await self._handshake(message)
        elif method == "server/discover" or (
            headers.get(VERSION_HEADER) is not None
            and _version_header(headers) not in versions.HANDSHAKE
        ):
            await self._modern(message)
        elif isinstance(message, RpcRequest) and message.method == "ping":
            await self._reply(jsonrpc.result(message.id, {}))
        elif isinstance(message, RpcRequest):
            err = RpcError(INVALID_REQUEST, "no Mcp-Session-Id: send initialize first")
            await self._error(message.id, err, "handshake")
        else:
            await sse.send_empty(self.send, 202)

    # -- handshake era -------------------------------------------------------------------------

    async def _initialize(self, request: RpcRequest) -> None:
        requested = request.params.get("protocolVersion")
        if not isinstance(requested, str):
            err = RpcError(INVALID_PARAMS, "initialize needs params.protocolVersion, a string")
            await self._error(request.id, err, "handshake")
            return
        version = versions.negotiate(requested)
        session = self.runtime.sessions.sealer.new(
            version,
            self.principal.key_id,
            request.params.get("clientInfo"),
            request.params.get("capabilities"),
        )
        token = self.runtime.sessions.sealer.seal(session)
        result = self.runtime.handlers.initialize_result(version)
        await self._reply(
            jsonrpc.result(request.id, result), headers=[(b"mcp-session-id", token.encode())]
        )

    async def _open_session(self) -> Session | None:
        token = self.request.headers.get(SESSION_HEADER, "").strip()
        try:
            return await self.runtime.sessions.resume(token, self.principal.key_id)
        except SessionNotFound:
            return None

    async def _handshake(self, message: Message) -> None:
        rid = message.id if isinstance(message, RpcRequest) else None
        session = await self._open_session()
        if session is None:
            err = RpcError(INVALID_REQUEST, "session not found: initialize again", http_status=404)
            await self._error(rid, err, "handshake")
            return
        header = _version_header(self.request.headers)
        if header is not None and header not in versions.KNOWN:
            err = RpcError(
                INVALID_REQUEST,
                f"unsupported MCP-Protocol-Version {header!r}",
                {"supported": list(versions.HANDSHAKE)},
                http_status=400,
            )
            await self._error(rid, err, "handshake")
            return
        if isinstance(message, Notification):
            await self._notification(session, message)
            await sse.send_empty(self.send, 202)
        elif isinstance(message, RpcResponse):
            await sse.send_empty(self.send, 202)
        else:
            await self._dispatch(session, message)

    async def _notification(self, session: Session, message: Notification) -> None:
        if message.method == "notifications/cancelled":
            await self.runtime.cancel(session.id, message.params.get("requestId"))

    def _handshake_context(self, session: Session, log_level: str | None) -> Context:
        return Context(
            principal=self.principal,
            version=session.version,
            era="handshake",
            request_id=new_request_id(),
            log_level=log_level,
            set_log_level=functools.partial(self.runtime.sessions.set_log_level, session),
            client_capabilities=session.client_capabilities,
            tools_changed=self.runtime.tools_changed,
        )

    async def _dispatch(self, session: Session, request: RpcRequest) -> None:
        log_level = None
        if request.method == "tools/call":
            log_level = await self.runtime.sessions.log_level(session)
        ctx = self._handshake_context(session, log_level)

        async def run(emit: sse.Emit) -> dict[str, Any]:
            ctx.emit = emit
            return await self._handle(ctx, request)

        await sse.answer(
            self.send,
            self.request.receive,
            run,
            accepts=self.accepts,
            status_of=_handshake_status,
            on_started=lambda task: self.runtime.track(session.id, request.id, task),
        )

    async def _batch(self, items: list[Any]) -> None:
        session = await self._open_session() if self.request.headers.get(SESSION_HEADER) else None
        if not items:
            await self._reply(batch.refused(batch.EMPTY), 400)
            return
        if session is None or not versions.batches_allowed(session.version):
            await self._reply(batch.refused(BATCHES_ONLY), 400)
            return

        async def one(request: RpcRequest) -> dict[str, Any]:
            return await self._handle(self._handshake_context(session, None), request)

        replies = await batch.answer(
            items,
            notify=functools.partial(self._notification, session),
            request=one,
            track=functools.partial(self.runtime.track, session.id),
        )
        if replies is None:
            await sse.send_empty(self.send, 202)
        else:
            await self._reply(replies)

    # -- modern era ----------------------------------------------------------------------------

    async def _modern(self, message: Message) -> None:
        rid = message.id if isinstance(message, RpcRequest) else None
        try:
            meta = envelope.check_modern(message, self.request.headers, self._input_schema)
        except RpcError as err:
            await self._error(rid, err, "modern")
            return
        if not isinstance(message, RpcRequest):
            await sse.send_empty(self.send, 202)
            return
        if message.method == "subscriptions/listen":
            await self._listen(message)
            return
        if not self.runtime.handlers.knows(message.method, "modern"):
            unknown = RpcError(jsonrpc.METHOD_NOT_FOUND, f"method not found: {message.method}")
            await self._error(rid, unknown, "modern")
            return
        ctx = Context(
            principal=self.principal,
            version=meta.version,
            era="modern",
            request_id=new_request_id(),
            log_level=meta.log_level,
            client_capabilities=meta.client_capabilities,
            tools_changed=self.runtime.tools_changed,
        )

        async def run(emit: sse.Emit) -> dict[str, Any]:
            ctx.emit = emit
            return await self._handle(ctx, message)

        await sse.answer(
            self.send, self.request.receive, run, accepts=self.accepts, status_of=_modern_status
        )

    async def _listen(self, request: RpcRequest) -> None:
        if not self.accepts.sse:  # a long-lived stream has no JSON form
            err = RpcError(
                INVALID_REQUEST,
                "subscriptions/listen needs Accept: text/event-stream",
                http_status=406,
            )
            await self._error(request.id, err, "modern")
            return
        wanted = request.params.get("notifications")
        wanted = wanted if isinstance(wanted, dict) else {}
        agreed = {"toolsListChanged": True} if wanted.get("toolsListChanged") is True else {}
        sub = {versions.META_SUBSCRIPTION_ID: request.id}
        stream = sse.SseStream(self.send)
        async with self.runtime.state.subscribe(TOOLS_CHANGED_CHANNEL) as changes:
            await stream.start()
            ack = {"notifications": agreed, "_meta": sub}
            await stream.event(
                jsonrpc.dumps(jsonrpc.notification("notifications/subscriptions/acknowledged", ack))
            )
            changed = jsonrpc.dumps(
                jsonrpc.notification("notifications/tools/list_changed", {"_meta": sub})
            )
            await _relay(stream, self.request.receive, changes, changed if agreed else None)

    def _input_schema(self, name: str) -> Any:
        op = self.services.gateway.catalog.get(name)
        return None if op is None else op.input_schema

    # -- shared --------------------------------------------------------------------------------

    async def _handle(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        try:
            return jsonrpc.result(request.id, await self.runtime.handlers.handle(ctx, request))
        except RpcError as err:
            return jsonrpc.error(request.id, err)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("MCP handler failed", extra={"request_id": ctx.request_id})
            return jsonrpc.error(request.id, RpcError(jsonrpc.INTERNAL_ERROR, "internal error"))

    async def _error(self, rid: Any, err: RpcError, era: str) -> None:
        table = jsonrpc.MODERN_HTTP_STATUS if era == "modern" else jsonrpc.HANDSHAKE_HTTP_STATUS
        status = err.http_status or table.get(err.code, 200)
        await self._reply(jsonrpc.error(rid, err), status)

    async def _reply(
        self, body: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        await sse.send_reply(self.send, body, status, headers, accepts=self.accepts)


def _version_header(headers: Any) -> str | None:
    """The MCP-Protocol-Version header, decoded like every Mcp-* header; an unreadable one
    as sent (it then names no version we know)."""
    try:
        return envelope.header(headers, VERSION_HEADER)
    except envelope.UnreadableHeader:
        return str(headers.get(VERSION_HEADER, ""))


def _handshake_status(message: dict[str, Any]) -> int:
    return 200


def _modern_status(message: dict[str, Any]) -> int:
    error = message.get("error")
    if isinstance(error, dict):
        return jsonrpc.MODERN_HTTP_STATUS.get(int(error.get("code", 0)), 200)
    return 200


async def _relay(
    stream: sse.SseStream,
    receive: Receive,
    changes: Any,
    frame: bytes | None,
    event_id: Callable[[bytes], str | None] | None = None,
    skip: Callable[[bytes], bool] | None = None,
) -> None:
    """Forward list-changed frames until the client goes away; keep-alive comments meanwhile.

    `event_id` names each frame's SSE id from the channel message; `skip` drops messages already
    sent (replayed before going live)."""
    gone = asyncio.create_task(sse.wait_disconnect(receive))
    try:
        iterator = changes.__aiter__()
        while True:
            nxt = asyncio.create_task(iterator.__anext__())
            done, _ = await asyncio.wait(
                {nxt, gone}, timeout=sse.KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                nxt.cancel()
                return
            if nxt in done:
                try:
                    message: bytes = nxt.result()
                except StopAsyncIteration:
                    await stream.end()
                    return
                if frame is not None and not (skip is not None and skip(message)):
                    eid = event_id(message) if event_id is not None else None
                    await stream.event(frame, event_id=eid)
            else:
                nxt.cancel()
                await stream.comment()
    finally:
        gone.cancel()


async def _session_verb(request: Request, send: Send, runtime: Runtime, who: Principal) -> None:
    """GET (the session's notification stream) and DELETE (end the session)."""
    header = _version_header(request.headers) or ""
    token = request.headers.get(SESSION_HEADER)
    accepts = media.accepts(request.headers.get("accept"))
    if header in versions.MODERN or token is None:
        await sse.send_empty(send, 405, ALLOW)
        return
    try:
        session = await runtime.sessions.resume(token.strip(), who.key_id)
    except SessionNotFound:
        err = RpcError(INVALID_REQUEST, "session not found: initialize again")
        await sse.send_reply(send, jsonrpc.error(None, err), 404, accepts=accepts)
        return
    if request.method == "DELETE":
        await runtime.sessions.end(session)
        await sse.send_empty(send, 204)
        return
    if not accepts.sse:
        err = RpcError(INVALID_REQUEST, "GET /mcp needs Accept: text/event-stream")
        await sse.send_reply(send, jsonrpc.error(None, err), 406, accepts=accepts)
        return
    stream = sse.SseStream(send)
    frame = jsonrpc.dumps(jsonrpc.notification("notifications/tools/list_changed"))
    async with runtime.state.subscribe(TOOLS_CHANGED_CHANNEL) as changes:
        await stream.start()
        await stream.comment()
        if not resume.resumable(session.version):
            await _relay(stream, request.receive, changes, frame)
            return
        # Subscribed before reading the log: an event appended meanwhile arrives both ways and
        # is sent once (`sent`), none falls between the two.
        stream_id = resume.get_stream_id(session.id)
        after = resume.resume_after(request.headers.get(LAST_EVENT_ID_HEADER), stream_id)
        logged = await resume.logged_changes(runtime.state)
        sent = set(resume.missed(logged, after)) if after is not None else set()
        for seq in sorted(sent):
            await stream.event(frame, event_id=resume.event_id(stream_id, seq))
        if not sent and resume.primes(session.version):
            current = max(logged[-1] if logged else 0, after or 0)
            await stream.raw(f"id: {resume.event_id(stream_id, current)}\ndata: \n\n".encode())
        await _relay(
            stream,
            request.receive,
            changes,
            frame,
            event_id=lambda message: resume.event_id(stream_id, _seq(message)),
            skip=lambda message: _seq(message) in sent,
        )


def _seq(message: bytes) -> int:
    """The log entry number a list-changed channel message carries (0 if it carries none)."""
    text = message.decode(errors="replace")
    return int(text) if text.isascii() and text.isdigit() else 0
