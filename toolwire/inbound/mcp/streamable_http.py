"""MCP Streamable HTTP at `/mcp` (and `/mcp/`, served directly: no redirect), both eras at once.

Each POST is classified on its own (protocols.md §7.2):

    initialize (no modern `_meta`)       handshake: negotiate, seal a session into Mcp-Session-Id
    `_meta` protocolVersion present      modern 2026-07-28: stateless, headers checked vs the body
    Mcp-Session-Id present               handshake: open the sealed session, then dispatch
    server/discover, modern version hdr  modern (and its validation explains what is missing)
    anything else                        handshake request without a session: 400

GET opens the session's stream for list changes (tools, resources, prompts) and the updates of
the resources the session subscribed to (`changes`), with event ids from 2025-03-26 on, and
`Last-Event-ID` replays what the stream missed (`resume`); DELETE ends the
session. Both are handshake-era only: a modern request for them gets 405, as 2026-07-28 says
(it has no resumability, so `Last-Event-ID` is never read for it).

Order of checks on every request: Origin/Host (403), credential (401), media types (406/415),
body size (413), JSON (400 -32700), JSON-RPC shape (400 -32600), then the era's own rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from toolwire.core.errors import ToolwireError
from toolwire.core.federated import NotSubscribable
from toolwire.core.model import Principal
from toolwire.inbound import tracecontext
from toolwire.inbound.disconnect import wait_disconnect
from toolwire.inbound.http import read_raw_body
from toolwire.inbound.mcp import (
    changes,
    envelope,
    jsonrpc,
    kernel,
    media,
    refusals,
    resume,
    security,
    sse,
    subscriptions,
    versions,
)
from toolwire.inbound.mcp.exchange import Exchange
from toolwire.inbound.mcp.handlers import new_request_id as kernel_request_id
from toolwire.inbound.mcp.jsonrpc import (
    INVALID_REQUEST,
    Message,
    Notification,
    RpcError,
    RpcRequest,
)
from toolwire.inbound.mcp.kernel import Connection, new_connection_id
from toolwire.inbound.mcp.runtime import Runtime
from toolwire.inbound.mcp.sessions import SessionNotFound
from toolwire.inbound.refusals import MethodNotAllowed, NotAcceptable, UnsupportedMediaType

log = logging.getLogger("toolwire.mcp")

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
LAST_EVENT_ID_HEADER = "last-event-id"
ALLOW = ("GET", "POST", "DELETE")
StatusOf = Callable[[dict[str, Any]], int]


class McpEndpoint:
    """The ASGI app behind `/mcp` and `/mcp/<server>` (a virtual server: the same door with the
    principal limited to that server's tools, `Gateway.within`): one instance serves every
    request of every app.

    Every refusal (a typed error from `toolwire.inbound.refusals`, `Unauthenticated`,
    `SessionNotFound`, `PayloadTooLarge`) is raised before anything is sent and answered here,
    through the transport table (`refusals.TRANSPORT`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange.start(scope, receive, send)
        try:
            principal = await security.admit(ex.request, ex.services, ALLOW)
            server = ex.request.path_params.get("server")
            if server is not None:  # /mcp/<server>: this virtual server's tools only
                principal = ex.services.gateway.within(principal, server)
            if ex.request.method == "POST":
                await Post(ex, principal).run()
            else:
                await _session_verb(ex.request, send, ex.runtime, principal, ex.accepts)
        except ToolwireError as refused:
            await ex.refuse(refused)


class Post:
    """One POST to /mcp, from the raw body to the answer."""

    def __init__(self, ex: Exchange, who: Principal) -> None:
        self.ex = ex
        self.request = ex.request
        self.send = ex.send
        self.services = ex.services
        self.runtime = ex.runtime
        self.kernel = ex.runtime.kernel
        self.principal = who
        self.accepts = ex.accepts

    async def run(self) -> None:
        try:
            body = await self._body()
        except RpcError as err:
            await self._error(None, err, "handshake")
            return
        for message in body if isinstance(body, list) else [body]:
            tracecontext.into_meta(message, self.request.headers)  # SEP-414: _meta wins
        if isinstance(body, list):
            await self._batch(body)
            return
        try:
            message = jsonrpc.parse_message(body)
        except RpcError as err:
            await self._error(jsonrpc.request_id_of(body), err, "handshake")
            return
        try:
            await self._one(message)
        except ToolwireError as refused:  # raised before anything was sent
            rid = message.id if isinstance(message, RpcRequest) else None
            await refusals.refuse(self.send, refused, self.services, accepts=self.accepts, rid=rid)

    async def _body(self) -> Any:
        content_type = self.request.headers.get("content-type", "application/json").lower()
        if "json" not in content_type:
            raise UnsupportedMediaType
        if self.accepts.nothing:
            raise NotAcceptable
        raw = await read_raw_body(self.request, self.services.settings.max_body_bytes)
        if not raw:
            raise RpcError(INVALID_REQUEST, "the body is empty")
        return jsonrpc.loads(raw)

    async def _one(self, message: Message) -> None:
        headers = self.request.headers
        params = message.params if isinstance(message, (RpcRequest, Notification)) else {}
        method = message.method if isinstance(message, (RpcRequest, Notification)) else None
        if kernel.is_initialize(message) and isinstance(message, RpcRequest):
            await self._initialize(message)
        elif envelope.meta_version(params) is not None:
            await self._modern(message)
        elif headers.get(SESSION_HEADER) is not None:
            await self._handshake(message)
        elif method == "server/discover" or (
            headers.get(VERSION_HEADER) is not None
            and _version_header(headers) not in versions.HANDSHAKE
        ):
            await self._modern(message)
        else:  # no session: only ping is answered, the kernel says so
            await self._without_session(message)

    # -- handshake era -------------------------------------------------------------------------

    async def _initialize(self, request: RpcRequest) -> None:
        conn = Connection(self.principal, new_connection_id())
        reply = await self.kernel.request(conn, request)
        headers: list[tuple[bytes, bytes]] = []
        if "result" in reply and conn.version is not None:
            sealer = self.runtime.sessions.sealer
            session = sealer.new(
                conn.version, self.principal.key_id, conn.client_info, conn.client_capabilities
            )
            headers.append((b"mcp-session-id", sealer.seal(session).encode()))
        await self._reply(reply, _handshake_envelope_status(reply), headers)

    async def _without_session(self, message: Message) -> None:
        reply = await self.kernel.receive(Connection(self.principal, new_connection_id()), message)
        if reply is None:
            await sse.send_empty(self.send, HTTPStatus.ACCEPTED)
        else:
            await self._reply(reply, _handshake_envelope_status(reply))

    async def _open(self) -> Connection:
        """The session's Connection (one state read); `SessionNotFound` when there is none."""
        token = self.request.headers.get(SESSION_HEADER, "").strip()
        session = await self.runtime.sessions.resume(token, self.principal.key_id)
        return self.runtime.connection(self.principal, session)

    async def _handshake(self, message: Message) -> None:
        conn = await self._open()
        header = _version_header(self.request.headers)
        if header is not None and header not in versions.KNOWN:
            err = RpcError(
                INVALID_REQUEST,
                f"unsupported MCP-Protocol-Version {header!r}",
                {"supported": list(versions.HANDSHAKE)},
            )
            rid = message.id if isinstance(message, RpcRequest) else None
            await self._error(rid, err, "handshake")
        elif isinstance(message, RpcRequest):
            await self._answer(conn, message, _handshake_status, track=True)
        else:
            await self.kernel.receive(conn, message)
            await sse.send_empty(self.send, HTTPStatus.ACCEPTED)

    async def _batch(self, items: list[Any]) -> None:
        conn = Connection(self.principal, new_connection_id())
        if self.request.headers.get(SESSION_HEADER):
            with contextlib.suppress(SessionNotFound):  # refused below: no 2025-03-26 session
                conn = await self._open()
        replies = await self.kernel.batch(
            conn, items, track=lambda rid, task: self.runtime.track(conn.id, rid, task)
        )
        if replies is None:
            await sse.send_empty(self.send, HTTPStatus.ACCEPTED)
        elif isinstance(replies, dict):
            await self._reply(replies, _handshake_envelope_status(replies))
        else:
            await self._reply(replies)

    # -- modern era ----------------------------------------------------------------------------

    async def _modern(self, message: Message) -> None:
        rid = message.id if isinstance(message, RpcRequest) else None
        try:
            conn = self.kernel.modern(
                self.principal,
                message,
                self.request.headers,
                self._input_schema,
                new_connection_id(),
            )
        except RpcError as err:
            await self._error(rid, err, "modern")
            return
        if not isinstance(message, RpcRequest):
            await sse.send_empty(self.send, HTTPStatus.ACCEPTED)
        elif message.method == "subscriptions/listen":
            await self._listen(message)
        else:
            await self._answer(conn, message, _modern_status)

    async def _listen(self, request: RpcRequest) -> None:
        """`subscriptions/listen` (2026-07-28): list changes of tools, resources and prompts,
        and updates of the federated resources named in `resourceSubscriptions` that this key
        may read and whose upstream offers subscriptions (the acknowledgement lists those
        honoured); each is subscribed upstream for the stream's life, audited as in the
        handshake era."""
        if not self.accepts.sse:  # a long-lived stream has no JSON form
            raise NotAcceptable("subscriptions/listen needs Accept: text/event-stream")
        wanted = request.params.get("notifications")
        wanted = wanted if isinstance(wanted, dict) else {}
        agreed: dict[str, Any] = {
            key: True for key in changes.LISTEN_FILTER.values() if wanted.get(key) is True
        }
        listener = f"listen-{new_connection_id()}"
        honoured = await self._subscribe_all(wanted.get("resourceSubscriptions"), listener)
        if honoured:
            agreed["resourceSubscriptions"] = honoured
        held = set(honoured)
        sub = {versions.META_SUBSCRIPTION_ID: request.id}

        async def render(change: changes.Change) -> bytes | None:
            if change.kind == "updated":
                return jsonrpc.dumps(change.frame(sub)) if change.uri in held else None
            asked = agreed.get(changes.LISTEN_FILTER[change.kind]) is True
            return jsonrpc.dumps(change.frame(sub)) if asked else None

        stream = sse.SseStream(self.send)
        try:
            async with self.runtime.state.subscribe(changes.CHANNEL) as feed:
                await stream.start()
                ack = {"notifications": agreed, "_meta": sub}
                await stream.event(
                    jsonrpc.dumps(
                        jsonrpc.notification("notifications/subscriptions/acknowledged", ack)
                    )
                )
                await _relay(stream, self.request.receive, feed, render)
        finally:
            federation = self.services.gateway.federation
            for uri in honoured:
                with contextlib.suppress(Exception):
                    await federation.unsubscribe(self.principal, uri, listener, kernel_request_id())

    async def _subscribe_all(self, uris: Any, listener: str) -> list[str]:
        """The URIs of `uris` subscribed for `listener` (at most `MAX_PER_SESSION`); the rest
        (unknown, not permitted, not subscribable, refused upstream) are left out."""
        if not isinstance(uris, list):
            return []
        federation = self.services.gateway.federation
        honoured: list[str] = []
        for uri in uris[: subscriptions.MAX_PER_SESSION]:
            if not isinstance(uri, str) or uri in honoured:
                continue
            try:
                await federation.subscribe(self.principal, uri, listener, kernel_request_id())
            except (LookupError, NotSubscribable, ToolwireError) as exc:
                log.info("subscriptions/listen: %s not subscribed: %s", uri, type(exc).__name__)
                continue
            honoured.append(uri)
        return honoured

    def _input_schema(self, name: str) -> Any:
        op = self.services.gateway.catalog.get(name)
        return None if op is None else op.input_schema

    # -- shared --------------------------------------------------------------------------------

    async def _answer(
        self, conn: Connection, request: RpcRequest, status_of: StatusOf, *, track: bool = False
    ) -> None:
        """Run the request in the kernel; JSON or SSE decided late (`sse.answer`)."""

        async def run(emit: sse.Emit) -> dict[str, Any]:
            return await self.kernel.request(conn, request, emit)

        def started(task: asyncio.Task[Any]) -> None:
            self.runtime.track(conn.id, request.id, task)

        await sse.answer(
            self.request.scope,
            self.send,
            self.request.receive,
            run,
            accepts=self.accepts,
            status_of=status_of,
            on_started=started if track else None,
        )

    async def _error(self, rid: Any, err: RpcError, era: str) -> None:
        reply = jsonrpc.error(rid, err)
        status = _modern_status if era == "modern" else _handshake_envelope_status
        await self._reply(reply, status(reply))

    async def _reply(
        self,
        body: Any,
        status: int = HTTPStatus.OK,
        headers: list[tuple[bytes, bytes]] | None = None,
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
    """Inside a handshake session every answer is 200, errors included."""
    return HTTPStatus.OK


def _handshake_envelope_status(message: dict[str, Any]) -> int:
    """Outside a session (or for its envelope): the handshake era's table."""
    return _status_in(jsonrpc.HANDSHAKE_HTTP_STATUS, message)


def _modern_status(message: dict[str, Any]) -> int:
    return _status_in(jsonrpc.MODERN_HTTP_STATUS, message)


def _status_in(table: dict[int, int], message: dict[str, Any]) -> int:
    error = message.get("error")
    if isinstance(error, dict):
        return table.get(int(error.get("code", 0)), HTTPStatus.OK)
    return HTTPStatus.OK


Render = Callable[[changes.Change], Awaitable[bytes | None]]
"""The frame this stream sends for a change, or None when its client did not ask for it."""


async def _relay(
    stream: sse.SseStream,
    receive: Receive,
    feed: Any,
    render: Render,
    event_id: Callable[[changes.Change], str | None] | None = None,
    skip: Callable[[changes.Change], bool] | None = None,
) -> None:
    """Forward the changes of `feed` (`changes.CHANNEL`) this stream's client wants (`render`)
    until the client goes away; keep-alive comments meanwhile. `event_id` names each frame's
    SSE id; `skip` drops changes already sent (replayed before going live)."""
    gone = asyncio.create_task(wait_disconnect(receive))
    feed_iter = feed.__aiter__()
    waiting: asyncio.Task[bytes] | None = None
    try:
        while True:
            if waiting is None:
                waiting = asyncio.create_task(feed_iter.__anext__())
            done, _ = await asyncio.wait(
                {waiting, gone}, timeout=sse.KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                return
            if not done:
                await stream.comment()
                continue
            task, waiting = waiting, None
            try:
                message = task.result()
            except StopAsyncIteration:
                await stream.end()
                return
            change = changes.parse(message)
            if change is None or (skip is not None and skip(change)):
                continue
            frame = await render(change)
            if frame is not None:
                eid = event_id(change) if event_id is not None else None
                await stream.event(frame, event_id=eid)
    finally:
        gone.cancel()
        if waiting is not None:
            waiting.cancel()


async def _session_verb(
    request: Request, send: Send, runtime: Runtime, who: Principal, accepts: media.Accepts
) -> None:
    """GET (the session's notification stream) and DELETE (end the session)."""
    header = _version_header(request.headers) or ""
    token = request.headers.get(SESSION_HEADER)
    if header in versions.MODERN or token is None:
        raise MethodNotAllowed(ALLOW, f"{request.method} /mcp needs a handshake-era session")
    session = await runtime.sessions.resume(token.strip(), who.key_id)
    if request.method == "DELETE":
        await runtime.sessions.end(session)
        await sse.send_empty(send, HTTPStatus.NO_CONTENT)
        return
    if not accepts.sse:
        raise NotAcceptable("GET /mcp needs Accept: text/event-stream")
    stream = sse.SseStream(send)
    held = runtime.subscriptions

    async def render(change: changes.Change) -> bytes | None:
        if change.kind == "updated" and not await held.holds(session.id, change.uri):
            return None
        return jsonrpc.dumps(change.frame())

    async with runtime.state.subscribe(changes.CHANNEL) as feed:
        await stream.start()
        await stream.comment()
        if not resume.resumable(session.version):
            await _relay(stream, request.receive, feed, render)
            return
        # Subscribed before reading the log: an event appended meanwhile arrives both ways and
        # is sent once (`sent`), none falls between the two.
        stream_id = resume.get_stream_id(session.id)
        after = resume.resume_after(request.headers.get(LAST_EVENT_ID_HEADER), stream_id)
        logged = await changes.logged(runtime.state)
        by_seq = {change.seq: change for change in logged}
        sent = set(resume.missed(list(by_seq), after)) if after is not None else set()
        for seq in sorted(sent):
            frame = await render(by_seq[seq])
            if frame is not None:
                await stream.event(frame, event_id=resume.event_id(stream_id, seq))
        if not sent and resume.primes(session.version):
            current = max(logged[-1].seq if logged else 0, after or 0)
            await stream.raw(f"id: {resume.event_id(stream_id, current)}\ndata: \n\n".encode())
        await _relay(
            stream,
            request.receive,
            feed,
            render,
            event_id=lambda change: resume.event_id(stream_id, change.seq),
            skip=lambda change: change.seq in sent,
        )
