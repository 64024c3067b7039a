"""Run a request's work only while its client is still there.

A plain HTTP handler is not cancelled when its client goes away: the work runs to the end and a
priced call would be charged for a result nobody receives. `unless_disconnected` races the work
against the ASGI `http.disconnect` message; when the client leaves first, the work is cancelled,
and the core releases its reservation (cancelled calls are never charged, see
`Gateway.execute`). Transport only: it knows nothing about tools or credits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499
"""nginx's status for "the client closed the request"; logged, never received by anyone."""


class ClientGone(Exception):
    """The client disconnected before the work finished; there is no one to answer."""


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`await work`, unless the client disconnects first: then cancel it and raise `ClientGone`.

    Call only after the request body was read (the next ASGI message is then the disconnect).
    """
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_wait_disconnect(request.receive))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise ClientGone
    return task.result()


def gone_response() -> Response:
    """What a handler returns for a client that left: nothing is sent to a closed connection."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)
