"""Server-sent events over raw ASGI, and the one rule for answering a request on HTTP.

`answer()` runs a request's handler and picks the response type late: a plain JSON response
when the handler finishes without sending a notification (the common, cheap case), an SSE stream
as soon as it sends one (progress, log messages), when the client accepts SSE. A client that
accepts only SSE gets every answer as a stream (`send_reply`). A client that goes away before the
answer cancels the call; the core then releases its reserved credits. A call cancelled by
`notifications/cancelled` gets no JSON-RPC response (MCP cancellation: the receiver SHOULD NOT
answer) and its HTTP exchange ends cleanly: an open stream ends, an unopened one is an empty
stream, or `202 Accepted` for a client that accepts only JSON (docs/design/mcp-door.md).

What this is not: MCP method logic, or session handling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import Any

from starlette.types import Receive, Scope, Send

from toolwire.inbound.disconnect import ClientGone, disconnected, unless_disconnected
from toolwire.inbound.mcp import jsonrpc
from toolwire.inbound.mcp.media import ANY, Accepts

KEEPALIVE_S = 15.0
SSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
JSON_HEADERS: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]


class SseStream:
    """An open `text/event-stream` response."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def start(
        self, headers: list[tuple[bytes, bytes]] | None = None, *, status: int = HTTPStatus.OK
    ) -> None:
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*SSE_HEADERS, *(headers or [])],
            }
        )
        self.started = True

    async def event(
        self, data: bytes, *, event_id: str | None = None, retry_ms: int | None = None
    ) -> None:
        parts = []
        if event_id is not None:
            parts.append(b"id: " + event_id.encode())
        if retry_ms is not None:
            parts.append(b"retry: " + str(retry_ms).encode())
        parts.append(b"event: message")
        parts.append(b"data: " + data)
        await self._send(
            {"type": "http.response.body", "body": b"\n".join(parts) + b"\n\n", "more_body": True}
        )

    async def raw(self, text: bytes) -> None:
        await self._send({"type": "http.response.body", "body": text, "more_body": True})

    async def comment(self) -> None:
        await self.raw(b": keep-alive\n\n")

    async def end(self) -> None:
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


async def send_json(
    send: Send,
    body: Any,
    status: int = HTTPStatus.OK,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    payload = jsonrpc.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *JSON_HEADERS,
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_reply(
    send: Send,
    body: Any,
    status: int = HTTPStatus.OK,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    accepts: Accepts = ANY,
) -> None:
    """One JSON-RPC message (or batch) as the whole answer, in a type the client accepts:
    `application/json` when it accepts JSON, else a `text/event-stream` of one event (the status
    is kept: a 400 error is a 400 stream)."""
    if accepts.json or not accepts.sse:
        await send_json(send, body, status, headers)
        return
    stream = SseStream(send)
    await stream.start(headers, status=status)
    await stream.event(jsonrpc.dumps(body))
    await stream.end()


async def send_empty(
    send: Send, status: int, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"0"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": b""})


Emit = Callable[[dict[str, Any]], Awaitable[None]]


async def answer(
    scope: Scope,
    send: Send,
    receive: Receive,
    run: Callable[[Emit], Coroutine[Any, Any, dict[str, Any]]],
    *,
    accepts: Accepts,
    status_of: Callable[[dict[str, Any]], int],
    headers: list[tuple[bytes, bytes]] | None = None,
    on_started: Callable[[asyncio.Task[Any]], None] | None = None,
    priming: Callable[[], Awaitable[tuple[str, int] | None]] | None = None,
) -> None:
    """Run `run(emit)` (which returns the final JSON-RPC message) and answer the HTTP request.

    `emit` queues notifications for this request; they switch the answer to SSE when allowed
    and are dropped otherwise. `priming` may give (event id, retry ms) for a first, empty event.
    When the call is cancelled (`on_started` gave its task to whoever may cancel it), no
    JSON-RPC message is sent and the exchange ends cleanly.
    """
    if on_started is None and priming is None:  # nobody cancels it by id: run it inline
        await _answer_inline(
            scope, send, receive, run, accepts=accepts, status_of=status_of, headers=headers
        )
        return
    sse_allowed = accepts.sse
    loop = asyncio.get_running_loop()
    # (final, message) in order; `signal` is resolved when one is added. A plain deque and a
    # future, not an asyncio.Queue: no getter task per message (the hot path, docs/benchmarks.md)
    queue: deque[tuple[bool, dict[str, Any]]] = deque()
    signal: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not signal.done():
            signal.set_result(None)

    async def emit(message: dict[str, Any]) -> None:
        if sse_allowed:
            queue.append((False, message))
            wake()

    async def body() -> None:
        queue.append((True, await run(emit)))
        wake()

    task = loop.create_task(body())
    if on_started is not None:
        on_started(task)
    gone = disconnected(scope, receive)
    stream = SseStream(send)
    try:
        while True:
            if queue:  # messages first, as they were queued
                final, message = queue.popleft()
                if final and not stream.started:
                    await send_reply(send, message, status_of(message), headers, accepts=accepts)
                    return
                if not stream.started:
                    await stream.start(headers)
                    primed = await priming() if priming is not None else None
                    if primed is not None:
                        await stream.raw(
                            f"id: {primed[0]}\nretry: {primed[1]}\ndata: \n\n".encode()
                        )
                await stream.event(jsonrpc.dumps(message))
                if final:
                    await stream.end()
                    return
                continue
            if signal.done():
                signal = loop.create_future()
            ended = task.done() and not _failed(task)  # its final message is queued
            done, _ = await asyncio.wait(
                {signal, gone} if ended else {signal, gone, task},
                timeout=KEEPALIVE_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if queue:
                continue
            if gone in done:
                return
            elif task.done() and task.cancelled():  # notifications already queued went first
                await _end_cancelled(send, stream, accepts, headers)
                return
            elif task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
            elif not done and stream.started:
                await stream.comment()
    finally:
        for pending in (gone, task):
            if not pending.done():
                pending.cancel()
        if not signal.done():
            signal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(asyncio.CancelledError):
            await gone


async def _answer_inline(
    scope: Scope,
    send: Send,
    receive: Receive,
    run: Callable[[Emit], Coroutine[Any, Any, dict[str, Any]]],
    *,
    accepts: Accepts,
    status_of: Callable[[dict[str, Any]], int],
    headers: list[tuple[bytes, bytes]] | None,
) -> None:
    """`answer()` for a request nobody cancels by id: the handler runs in the request's own
    task, raced against the client's disconnect (`unless_disconnected`), and
    a notification opens the stream and is written from `emit` itself. No body task, queue or
    `asyncio.wait` per request (the hot path, docs/benchmarks.md); same answers."""
    stream = SseStream(send)
    # Emitters in other tasks must not interleave with each other: one lock, made by the first
    # notification (most requests send none).
    guard: list[asyncio.Lock] = []
    keepalive: list[asyncio.Task[None]] = []
    ended = False  # a notification emitted after the answer (a call kept running) is dropped

    def lock() -> asyncio.Lock:
        if not guard:
            guard.append(asyncio.Lock())
        return guard[0]

    async def beat() -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            async with lock():
                await stream.comment()

    async def emit(message: dict[str, Any]) -> None:
        if not accepts.sse or ended:
            return
        async with lock():
            if ended:
                return
            if not stream.started:
                await stream.start(headers)
                keepalive.append(asyncio.get_running_loop().create_task(beat()))
            await stream.event(jsonrpc.dumps(message))

    try:
        final = await unless_disconnected(scope, receive, run(emit))
    except ClientGone:
        return
    finally:
        ended = True  # from here on, only the final message is written
        for task in keepalive:
            task.cancel()
    if not guard:  # no notification: nothing is being written, and none will be (`ended`)
        await send_reply(send, final, status_of(final), headers, accepts=accepts)
        return
    async with lock():
        if not stream.started:
            await send_reply(send, final, status_of(final), headers, accepts=accepts)
            return
        await stream.event(jsonrpc.dumps(final))
        await stream.end()


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.cancelled() or task.exception() is not None


async def _end_cancelled(
    send: Send, stream: SseStream, accepts: Accepts, headers: list[tuple[bytes, bytes]] | None
) -> None:
    """End the exchange of a cancelled request without a JSON-RPC message."""
    if not stream.started and not accepts.sse:
        await send_empty(send, HTTPStatus.ACCEPTED, headers)
        return
    if not stream.started:
        await stream.start(headers)
    await stream.end()
