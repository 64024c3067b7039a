"""Run a request's work only while its client is still there.

A plain HTTP handler is not cancelled when its client goes away: the work runs to the end and a
priced call would be charged for a result nobody receives. `unless_disconnected` races the work
against the ASGI `http.disconnect` message; when the client leaves first, the work is cancelled,
and the core releases its reservation (cancelled calls are never charged, see
`Gateway.execute`). Transport only: it knows nothing about tools or credits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.responses import Response
from starlette.types import Receive, Send

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499
"""nginx's status for "the client closed the request"; logged, never received by anyone."""


class ClientGone(Exception):
    """The client disconnected before the work finished; there is no one to answer."""


async def _watch(receive: Receive, request_task: asyncio.Task[object], gone: list[bool]) -> None:
    """Wait for the client's `http.disconnect`; then cancel `request_task` (marking `gone`)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.append(True)
            request_task.cancel()
            return


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """`await work`, unless the client disconnects first: then cancel it and raise `ClientGone`.

    `receive`: the request's ASGI receive (a Starlette request's `request.receive`). Call only
    after the request body was read (the next ASGI message is then the disconnect).
    The work runs in the request's own task; one watcher task waits for the disconnect and
    cancels the request's task when it comes (one task per request, not two plus a wait: the
    hot path, docs/benchmarks.md). A cancellation from elsewhere propagates unchanged.
    """
    current = asyncio.current_task()
    if current is None:  # not in a task (never under an ASGI server): nothing to race
        return await work
    gone: list[bool] = []
    watcher = asyncio.get_running_loop().create_task(_watch(receive, current, gone))
    try:
        result = await work
    except asyncio.CancelledError:
        if gone and current.uncancel() == 0:  # the watcher's cancellation, and only it
            raise ClientGone from None
        raise
    finally:
        watcher.cancel()
    if gone:  # the client left as the work ended; the work ignored the cancellation
        current.uncancel()
    return result


def gone_response() -> Response:
    """What a handler returns for a client that left: nothing is sent to a closed connection."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def send_gone(send: Send) -> None:
    """`gone_response()` for a raw ASGI door: the status is logged, nobody receives it."""
    await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []})
    await send({"type": "http.response.body", "body": b""})
