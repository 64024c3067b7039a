"""Run a request's work only while its client is still there.

A plain HTTP handler is not cancelled when its client goes away: the work runs to the end and a
priced call would be charged for a result nobody receives. `unless_disconnected` cancels the
work when the client leaves first, and the core releases its reservation (cancelled calls are
never charged, see `Gateway.execute`). Transport only: it knows nothing about tools or credits.

How the client's leaving is learnt, cheapest first:
- `toolwire serve`'s HTTP protocol (`toolwire.inbound.slow_clients.GuardedHttpProtocol`) puts a
  `DisconnectSignal` in each request's scope (an ASGI extension:
  ``scope["extensions"]["toolwire.disconnect"]["signal"]``)
  and fires it from `connection_lost`: no task, timer or `receive()` per request (the hot path,
  docs/benchmarks.md, docs/design/disconnect.md);
- under any other ASGI server, one watcher task per request waits for the ASGI
  `http.disconnect` message (ASGI HTTP spec: the next `receive()` after the body).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499
"""nginx's status for "the client closed the request"; logged, never received by anyone."""

EXTENSION = "toolwire.disconnect"
"""The ASGI extension (``scope["extensions"][EXTENSION] == {"signal": DisconnectSignal}``)."""


class ClientGone(Exception):
    """The client disconnected before the work finished; there is no one to answer."""


class DisconnectSignal:
    """Fired once by the server when the request's connection is lost before its response ended.

    `gone` is True from then on. `callback`, when set, is called (once, on the event loop) at
    the firing; a callback set after the firing is the caller's to check against `gone`.
    """

    __slots__ = ("callback", "gone", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.gone = False
        self.callback: Callable[[], None] | None = None
        self.loop = loop
        """The event loop the request runs on (its server's), when the server says: the
        request's task is then found without `get_running_loop` (a `getpid` system call in
        CPython 3.11, on every call)."""

    def fire(self) -> None:
        """The connection was lost: mark `gone` and run the callback (at most once)."""
        if self.gone:
            return
        self.gone = True
        callback, self.callback = self.callback, None
        if callback is not None:
            callback()


def signal_of(scope: Scope) -> DisconnectSignal | None:
    """The server's `DisconnectSignal` for this request, or None (another ASGI server)."""
    extension = (scope.get("extensions") or {}).get(EXTENSION)
    found = extension.get("signal") if isinstance(extension, dict) else None
    return found if isinstance(found, DisconnectSignal) else None


async def _watch(receive: Receive, request_task: asyncio.Task[object], gone: list[bool]) -> None:
    """Wait for the client's `http.disconnect`; then cancel `request_task` (marking `gone`)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.append(True)
            request_task.cancel()
            return


async def unless_disconnected(scope: Scope, receive: Receive, work: Awaitable[T]) -> T:
    """`await work`, unless the client disconnects first: then cancel it and raise `ClientGone`.

    `scope`, `receive`: the request's ASGI scope and receive (a Starlette request's
    `request.scope`, `request.receive`). Call only after the request body was read (the next
    ASGI message is then the disconnect). The work runs in the request's own task, which is
    cancelled when the client leaves: by the server's `DisconnectSignal` when there is one, else
    by one watcher task. A cancellation from elsewhere propagates unchanged.
    """
    signal = signal_of(scope)
    current = asyncio.current_task(signal.loop if signal is not None else None)
    if current is None:  # not in a task (never under an ASGI server): nothing to race
        return await work
    gone: list[bool] = []

    def cancel() -> None:
        gone.append(True)
        current.cancel()

    watcher: asyncio.Task[None] | None = None
    if signal is not None:
        signal.callback = cancel
        if signal.gone:  # lost before we listened: cancelled at the work's first suspension
            signal.callback = None
            cancel()
    else:
        watcher = asyncio.get_running_loop().create_task(_watch(receive, current, gone))
    try:
        result = await work
    except asyncio.CancelledError:
        if gone and current.uncancel() == 0:  # the disconnect's cancellation, and only it
            raise ClientGone from None
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        elif signal is not None:
            signal.callback = None
    if gone:  # the client left as the work ended; the work ignored the cancellation
        current.uncancel()
    return result


def disconnected(scope: Scope, receive: Receive) -> asyncio.Future[None]:
    """A future resolved when the client has gone away (call only after the body was read).

    From the server's `DisconnectSignal` when there is one (no task), else from a task reading
    `receive` until `http.disconnect`. Cancel it when it is no longer needed."""
    signal = signal_of(scope)
    if signal is None:
        return asyncio.get_running_loop().create_task(wait_disconnect(receive))
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def resolve() -> None:
        if not future.done():
            future.set_result(None)

    def unhook(_: asyncio.Future[None]) -> None:
        if signal.callback is resolve:
            signal.callback = None

    if signal.gone:
        resolve()
    else:
        signal.callback = resolve
        future.add_done_callback(unhook)
    return future


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client has gone away: reads `receive` until `http.disconnect` (call only
    after the body was read). For standing streams; a request's work uses `unless_disconnected`."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def gone_response() -> Response:
    """What a handler returns for a client that left: nothing is sent to a closed connection."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def send_gone(send: Send) -> None:
    """`gone_response()` for a raw ASGI door: the status is logged, nobody receives it."""
    await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []})
    await send({"type": "http.response.body", "body": b""})
