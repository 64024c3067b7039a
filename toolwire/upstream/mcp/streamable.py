"""The Streamable HTTP client transport under the SDK's `ClientSession`, on toolwire's lean
HTTP/1.1 pool (`upstream.http1.Http1Pool`): the SDK's `Transport` contract (an async context
manager yielding a read stream and a write stream of `SessionMessage`s) with the MCP wire rules
of the SDK's `streamable_http_client`, without its `httpx2.AsyncClient` and memory streams.

    transport = StreamableHttp(url, pool, headers, on_session_lost)
    Client(transport, ...)     # the SDK's client enters it; toolwire never reads the streams

Why (docs/benchmarks.md, federation; docs/design/mcp-federation.md): under the SDK's transport a
`tools/call` crossed four tasks (a writer task taking the message through a zero-buffer stream,
a task group per message, a task per POST, the session's reader through a second stream) and
built an `httpx2` request and response (header objects, URL merging), about half the gateway's
CPU per federated call. Here the sending task starts one task for the POST, which writes the
request bytes in one system call, parses the answer and puts it in the session's inbox (a
deque: no task waits to hand it over).

What it keeps of the SDK's transport (mcp 2.x `mcp/client/streamable_http.py`), rule for rule:
- every message is a POST to the endpoint with `Accept: application/json, text/event-stream`,
  the session id once the upstream gave one (on `initialize`), the negotiated
  `MCP-Protocol-Version` (the latest a message stamped; forgotten on `initialize`) and the
  message's own headers (`ClientMessageMetadata.headers`: `Mcp-Method`, `Mcp-Name`, ...);
- a request's answer is JSON or server-sent events (progress, logs and server-to-client
  requests before its result; a priming event without data is skipped); an SSE answer that ends
  without the result is resumed with `Last-Event-ID` when an event had an id (at most
  `MAX_RECONNECTION_ATTEMPTS` tries, after the server's `retry` or 1 s), else the request fails
  with `CONNECTION_CLOSED`;
- 202 to a request, an unfollowed redirect, another content type: the request fails
  (`INVALID_REQUEST`); a status of 400 or more: the JSON-RPC error in the body if there is one,
  else 404 is "Session terminated" with a session (`on_session_lost` is told: toolwire
  re-initialises, `connection.Connection.lose_session`) or "Not Found" without, anything else
  `INTERNAL_ERROR`; a 307/308 within the endpoint's origin is followed (at most
  `MAX_REDIRECTS`), any other redirect is not;
- after `notifications/initialized` with a session id, a GET stream carries the server's own
  messages (reopened as the SDK does);
- cancellation: at 2026-07-28 closing a request's POST is its cancellation, so the dispatcher's
  `notifications/cancelled` for a POST in flight closes that connection and is not sent; in the
  handshake era it is POSTed; a reused request id closes the older POST;
- a transport failure (connect, read, protocol) ends the session, as the SDK's task group did:
  every waiting request fails with `CONNECTION_CLOSED` and the context exits with the failure
  (so `Connection.error` names it);
- on exit, a session the upstream gave an id is ended with DELETE.

What it is not: resumption tokens chosen by the caller (toolwire sends none), the legacy
HTTP+SSE transport (`sse`, still the SDK's `sse_client` over `OriginGuard`), the SSRF check (the
pool's backend, `http_pool.lean_pool`), or credential confinement: every request goes to the
configured endpoint's own origin, where the upstream's credentials belong.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
    jsonrpc_message_adapter,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from toolwire.upstream.http1 import (
    DEFAULT_PORTS,
    Http1Pool,
    Key,
    Streamed,
    header_line,
    request_line,
)
from toolwire.upstream.mcp.connection import TRACE_HEADERS, TRACE_KEYS, W3C, describe
from toolwire.upstream.mcp.sse import SseError, SseParser

log = logging.getLogger("toolwire.upstream.mcp")

SESSION_ID = "mcp-session-id"
PROTOCOL_VERSION = "mcp-protocol-version"
MAX_RECONNECTION_ATTEMPTS = 2
RECONNECT_DELAY_S = 1.0
MAX_REDIRECTS = 20
CLOSE_TIMEOUT_S = 5.0
Deliver = Callable[[JSONRPCMessage], Awaitable[None]]
"""Where the messages of one request's answer go (the session's inbox, or `exchange`'s caller)."""
MAX_CACHED_LINES = 256
"""Encoded header lines a session keeps (`StreamableHttp._line`); past that it starts over."""
UNCACHED = frozenset({"content-length", *TRACE_KEYS})
READ_TIMEOUT_S = 300.0
"""Seconds each read of an answer may wait (a stream may be quiet that long), as the SDK's."""


class Inbox:
    """The session's read stream: messages (and transport failures) put without waiting, read
    by the SDK's one reader task; ends (`anyio.EndOfStream`) once closed and drained."""

    def __init__(self) -> None:
        self._items: collections.deque[SessionMessage | Exception] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def put(self, item: SessionMessage | Exception) -> None:
        if self.closed:
            return
        self._items.append(item)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self) -> SessionMessage | Exception:
        while not self._items:
            if self.closed:
                raise anyio.EndOfStream
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Inbox:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()


class _Outbox:
    """The session's write stream: each message goes to `StreamableHttp.send`."""

    def __init__(self, owner: StreamableHttp) -> None:
        self._owner = owner

    async def send(self, item: SessionMessage, /) -> None:
        await self._owner.send(item)

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> _Outbox:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


class StreamableHttp:
    """See the module docstring. `headers`: sent on every request (user agent, the upstream's
    auth); `on_session_lost`: called when a request with the session id is answered 404;
    `on_reopened`: called when the GET stream is opened again without `Last-Event-ID` (the
    server gave no event ids to resume from), since what the server sent meanwhile is lost."""

    def __init__(
        self,
        url: str,
        pool: Http1Pool,
        headers: Mapping[str, str],
        on_session_lost: Callable[[], None] = lambda: None,
        on_reopened: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = url
        self.pool = pool
        self.on_session_lost = on_session_lost
        self.on_reopened = on_reopened
        self.streams_opened = 0
        """GET streams opened without `Last-Event-ID` by this transport."""
        self._key, self._target, self._host = _locate(url)
        self._headers = {k.lower(): v for k, v in headers.items()}
        self._lines: dict[tuple[str, str], bytes] = {}
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.inbox = Inbox()
        self._posts: dict[RequestId, tuple[asyncio.Task[None], bool]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.failure: BaseException | None = None

    # -- the Transport contract ---------------------------------------------------------------

    async def __aenter__(self) -> tuple[Inbox, _Outbox]:
        return self.inbox, _Outbox(self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.inbox.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.session_id is not None and self.failure is None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    answer = await self._open("DELETE", b"", {})
                    await answer.aclose()
        await self.pool.aclose()
        if self.failure is not None and (exc is None or isinstance(exc, Exception)):
            raise self.failure

    # -- sending --------------------------------------------------------------------------------

    async def send(self, item: SessionMessage) -> None:
        """One message from the session: a request's POST runs in a task of its own (its answer
        reaches the inbox); anything else is POSTed before this returns."""
        message = item.message
        metadata = item.metadata if isinstance(item.metadata, ClientMessageMetadata) else None
        if self._cancelled_here(message):
            return
        if isinstance(message, JSONRPCRequest) and message.method == "initialize":
            self.protocol_version = None
        elif metadata is not None and metadata.headers:
            stamped = _get(metadata.headers, PROTOCOL_VERSION)
            if stamped is not None:
                self.protocol_version = stamped
        extra = dict(metadata.headers) if metadata is not None and metadata.headers else {}
        for name in TRACE_KEYS:  # the sending task's trace context (OriginGuard's rule)
            extra.pop(name, None)
        carrier: dict[str, str] = {}
        W3C.inject(carrier)
        current = carrier or TRACE_HEADERS.get()
        for name in TRACE_KEYS:
            if current.get(name):
                extra[name] = current[name]
        body = message.model_dump_json(by_alias=True, exclude_unset=True).encode()
        if not isinstance(message, JSONRPCRequest):
            await self._guarded(self._post(message, body, extra))
            if (
                isinstance(message, JSONRPCNotification)
                and message.method == "notifications/initialized"
                and self.session_id is not None
            ):
                self._spawn(self._get_stream())
            return
        superseded = self._posts.get(message.id)
        if superseded is not None:
            superseded[0].cancel()
        task = self._spawn(self._post(message, body, extra))
        self._posts[message.id] = (task, self.protocol_version in MODERN_PROTOCOL_VERSIONS)
        task.add_done_callback(lambda done: self._forget(message.id, done))

    def _forget(self, request_id: RequestId, task: asyncio.Task[None]) -> None:
        post = self._posts.get(request_id)
        if post is not None and post[0] is task:
            del self._posts[request_id]

    def _cancelled_here(self, message: JSONRPCMessage) -> bool:
        """At 2026-07-28 a request is cancelled by closing its POST: the dispatcher's
        `notifications/cancelled` does that and is not sent (nor when no POST is in flight)."""
        if not (
            isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled"
        ):
            return False
        request_id = (message.params or {}).get("requestId")
        post = self._posts.get(request_id) if isinstance(request_id, int | str) else None
        if post is not None:
            task, modern = post
            if not modern:
                return False
            task.cancel()
            return True
        return self.protocol_version in MODERN_PROTOCOL_VERSIONS

    def _spawn(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, work: Any) -> None:
        """Run one exchange; a transport failure ends the session (module docstring)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        """A transport failure: the session ends (every waiting request fails)."""
        if self.failure is None:
            self.failure = exc
            log.info("MCP upstream transport failed: %s", describe(exc))
        self.inbox.close()

    def _request_headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        headers = {
            "host": self._host,
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            **self._headers,
        }
        if self.session_id:
            headers[SESSION_ID] = self.session_id
        if self.protocol_version:
            headers[PROTOCOL_VERSION] = self.protocol_version
        for name, value in extra.items():
            headers[name.lower()] = value
        return headers

    async def _open(self, method: str, body: bytes, extra: Mapping[str, str]) -> Streamed:
        """Send one request to the endpoint (following 307/308 within its origin) and read its
        answer's head."""
        headers = self._request_headers(extra)
        if method != "GET":
            headers["content-length"] = str(len(body))
        fields = b"".join(self._line(name, value) for name, value in headers.items())
        target = self._target
        for _ in range(MAX_REDIRECTS + 1):
            data = request_line(method, target) + b"\r\n" + fields + b"\r\n" + body
            answer = await self.pool.open(self._key, data, timeout=READ_TIMEOUT_S)
            location = _same_origin_redirect(answer, self._key, target)
            if location is None:
                return answer
            await _drain(answer)
            target = location
        return answer

    def _line(self, name: str, value: str) -> bytes:
        """`header_line(name, value)` and its CRLF, checked once per session for the headers
        every request repeats (the trace context and the length differ each time)."""
        if name in UNCACHED:
            return header_line(name, value) + b"\r\n"
        line = self._lines.get((name, value))
        if line is None:
            line = header_line(name, value) + b"\r\n"
            if len(self._lines) >= MAX_CACHED_LINES:
                self._lines.clear()
            self._lines[(name, value)] = line
        return line

    def _put(self, message: JSONRPCMessage) -> None:
        self.inbox.put(SessionMessage(message))

    async def _deliver(self, message: JSONRPCMessage) -> None:
        self._put(message)

    async def _post(self, message: JSONRPCMessage, body: bytes, extra: Mapping[str, str]) -> None:
        sent_session = self.session_id is not None
        answer = await self._open("POST", body, extra)
        try:
            request_id = message.id if isinstance(message, JSONRPCRequest) else None
            initialize = isinstance(message, JSONRPCRequest) and message.method == "initialize"
            await self._answered(request_id, initialize, answer, sent_session, self._deliver)
        finally:
            await answer.aclose()

    async def exchange(
        self, request_id: RequestId, body: bytes, extra: Mapping[str, str], deliver: Deliver
    ) -> None:
        """One request (`body`, a JSON-RPC request with id `request_id`, already stamped) POSTed
        from the calling task, outside the SDK's session: each message of its answer goes to
        `deliver` in order, its response (or the error the wire rules make of the answer) last,
        by the same rules as a request the session sends (module docstring). Cancelling the
        caller closes the POST, which is the cancellation at 2026-07-28. A transport failure
        ends the session as it does under the session, and raises `MCPError`
        (`CONNECTION_CLOSED`)."""
        try:
            answer = await self._open("POST", body, extra)
            try:
                await self._answered(request_id, False, answer, False, deliver)
            finally:
                await answer.aclose()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
            raise MCPError(code=CONNECTION_CLOSED, message="Connection closed") from exc

    async def _answered(
        self,
        request_id: RequestId | None,
        initialize: bool,
        answer: Streamed,
        sent_session: bool,
        deliver: Deliver,
    ) -> None:
        status = answer.status
        if status == 404 and sent_session:
            self.on_session_lost()  # the server no longer knows the session (spec: re-initialise)
        if request_id is None:
            await _drain(answer)
            return
        if status == 202:
            await deliver(
                _failure(request_id, INVALID_REQUEST, "server answered a request with 202 Accepted")
            )
            return
        if 300 <= status < 400 and _header(answer, b"location") is not None:
            await deliver(
                _failure(
                    request_id, INVALID_REQUEST, "Redirect not followed: it leaves the endpoint"
                )
            )
            return
        content_type = (_header(answer, b"content-type") or "").lower()
        if status >= 400:
            await self._error_answer(
                request_id, answer, status, content_type, sent_session, deliver
            )
            return
        if initialize:
            self.session_id = _header(answer, b"mcp-session-id") or None
        if content_type.startswith("application/json"):
            body = await _drain(answer)
            try:
                parsed = _parse(body)
            except ValidationError as exc:
                parsed = _failure(request_id, PARSE_ERROR, f"Failed to parse JSON response: {exc}")
            await deliver(parsed)
        elif content_type.startswith("text/event-stream"):
            await self._events(request_id, answer, deliver)
        else:
            await deliver(
                _failure(request_id, INVALID_REQUEST, f"Unexpected content type: {content_type}")
            )

    async def _error_answer(
        self,
        request_id: RequestId,
        answer: Streamed,
        status: int,
        content_type: str,
        sent_session: bool,
        deliver: Deliver,
    ) -> None:
        """A status of 400 or more: the server's JSON-RPC error if the body is one."""
        body = await _drain(answer)
        if content_type.startswith("application/json"):
            with contextlib.suppress(ValidationError):
                parsed = jsonrpc_message_adapter.validate_json(body, by_name=False)
                if isinstance(parsed, JSONRPCError):
                    await deliver(JSONRPCError(jsonrpc="2.0", id=request_id, error=parsed.error))
                    return
        if status == 404:
            if sent_session:
                await deliver(_failure(request_id, INVALID_REQUEST, "Session terminated"))
            else:
                await deliver(_failure(request_id, METHOD_NOT_FOUND, "Not Found"))
            return
        await deliver(_failure(request_id, INTERNAL_ERROR, "Server returned an error response"))

    async def _events(self, request_id: RequestId, answer: Streamed, deliver: Deliver) -> None:
        """A request's SSE answer: each message delivered until its result; resumed with
        `Last-Event-ID` when it ends early after an event with an id."""
        parser = SseParser()
        try:
            async for chunk in answer.chunks():
                for event in parser.feed(chunk):
                    if await self._event(event.data, event.event, request_id, deliver):
                        return
        except SseError as exc:
            await deliver(_failure(request_id, CONNECTION_CLOSED, f"SSE stream failed: {exc}"))
            return
        if parser.last_id is None:
            await deliver(
                _failure(request_id, CONNECTION_CLOSED, "SSE stream ended without a response")
            )
            return
        await self._resume(request_id, parser.last_id, parser.retry_ms, deliver)

    async def _resume(
        self, request_id: RequestId, last_id: str, retry_ms: int | None, deliver: Deliver
    ) -> None:
        attempts = 0
        while attempts < MAX_RECONNECTION_ATTEMPTS:
            await asyncio.sleep(RECONNECT_DELAY_S if retry_ms is None else retry_ms / 1000)
            try:
                answer = await self._open("GET", b"", {"last-event-id": last_id})
            except Exception:
                attempts += 1
                continue
            try:
                if answer.status != 200:
                    attempts += 1
                    continue
                parser = SseParser()
                async for chunk in answer.chunks():
                    for event in parser.feed(chunk):
                        if await self._event(event.data, event.event, request_id, deliver):
                            return
                last_id = parser.last_id or last_id
                retry_ms = parser.retry_ms if parser.retry_ms is not None else retry_ms
                attempts = 0
            finally:
                await answer.aclose()
        await deliver(
            _failure(
                request_id,
                CONNECTION_CLOSED,
                "SSE stream ended and reconnection attempts were exhausted",
            )
        )

    async def _event(
        self, data: str, kind: str, request_id: RequestId | None, deliver: Deliver
    ) -> bool:
        """One SSE event delivered; True when it was the result of `request_id`."""
        if kind != "message" or not data:
            return False  # a priming event, or a kind MCP does not send
        try:
            message = jsonrpc_message_adapter.validate_json(data, by_name=False)
        except ValidationError as exc:
            if request_id is None:
                self.inbox.put(exc)
                return False
            await deliver(_failure(request_id, PARSE_ERROR, f"Failed to parse SSE message: {exc}"))
            return True
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            if request_id is not None:
                message.id = request_id
            await deliver(message)
            return True
        await deliver(message)
        return False

    async def _get_stream(self) -> None:
        """The server's own messages outside any request (handshake era), reopened after the
        server's `retry` (or 1 s) when it ends, at most `MAX_RECONNECTION_ATTEMPTS` failures."""
        last_id: str | None = None
        retry_ms: int | None = None
        attempts = 0
        while attempts < MAX_RECONNECTION_ATTEMPTS:
            extra = {"accept": "text/event-stream", "cache-control": "no-store"}
            if last_id:
                extra["last-event-id"] = last_id
            try:
                answer = await self._open("GET", b"", extra)
                try:
                    if answer.status != 200:
                        raise ConnectionError(f"GET stream answered {answer.status}")
                    if not last_id:
                        self.streams_opened += 1
                        if self.streams_opened > 1:
                            self.on_reopened()  # no replay: re-read what may have changed
                    parser = SseParser()
                    async for chunk in answer.chunks():
                        for event in parser.feed(chunk):
                            await self._event(event.data, event.event, None, self._deliver)
                    last_id = parser.last_id or last_id
                    retry_ms = parser.retry_ms if parser.retry_ms is not None else retry_ms
                    attempts = 0
                finally:
                    await answer.aclose()
            except Exception:
                log.debug("GET stream error", exc_info=True)
                attempts += 1
                if attempts >= MAX_RECONNECTION_ATTEMPTS:
                    return
            await asyncio.sleep(RECONNECT_DELAY_S if retry_ms is None else retry_ms / 1000)


def _failure(request_id: RequestId, code: int, text: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=text))


def _parse(body: bytes) -> JSONRPCMessage:
    return jsonrpc_message_adapter.validate_json(body, by_name=False)


def _locate(url: str) -> tuple[Key, bytes, str]:
    """(pool key, request target, Host header) of an http(s) URL. Raises `ValueError`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower().encode("ascii")
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    default = DEFAULT_PORTS[scheme]
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (
        (scheme, host.encode("idna"), port),
        target.encode("ascii"),
        shown if port == default else f"{shown}:{port}",
    )


def _header(answer: Streamed, name: bytes) -> str | None:
    for key, value in answer.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _get(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _same_origin_redirect(answer: Streamed, key: Key, target: bytes) -> bytes | None:
    """The target of a 307/308 that stays on the endpoint's origin, else None (the SDK's rule:
    the method is kept, so only these two statuses; another origin is not followed)."""
    if answer.status not in (307, 308):
        return None
    location = _header(answer, b"location")
    if location is None:
        return None
    scheme, host, port = key
    base = f"{scheme.decode()}://{host.decode()}:{port}{target.decode('ascii')}"
    try:
        moved, path, _ = _locate(urljoin(base, location))
    except ValueError:
        return None
    return path if moved == key else None


async def _drain(answer: Streamed) -> bytes:
    pieces = [chunk async for chunk in answer.chunks()]
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
