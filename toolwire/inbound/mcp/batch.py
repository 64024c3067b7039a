"""JSON-RPC 2.0 batches (JSON-RPC 2.0 §6), once for every transport that accepts them.

MCP accepts a batch only in a 2025-03-26 session (protocols.md §1.1); the transport checks the
session, then hands the array here:

    []                               one Invalid Request error, id null (not an array)
    an entry that is not a message   an error entry carrying its id, or id null when unreadable
    a notification                   handled (`notify`), no entry
    a client's response              ignored, no entry
    a request                        run concurrently with the others (`request`), one entry;
                                     a request cancelled meanwhile gets none
    nothing to answer                None (HTTP: 202 with no body; stdio: no line)

Error entries always carry `id` (JSON-RPC 2.0 §5: null when it could not be read).

What this is not: the session or version check, or the rendering of one request's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from toolwire.inbound.mcp import jsonrpc
from toolwire.inbound.mcp.jsonrpc import INVALID_REQUEST, Notification, RpcError, RpcRequest

Reply = dict[str, Any]
Track = Callable[[jsonrpc.RequestId, "asyncio.Task[Reply]"], None]


def refused(message: str) -> Reply:
    """The single error answering a whole batch that is refused (id null)."""
    return jsonrpc.error(None, RpcError(INVALID_REQUEST, message), null_id=True)


EMPTY = "an empty batch is not a valid JSON-RPC request"


async def answer(
    items: list[Any],
    *,
    notify: Callable[[Notification], Awaitable[None]],
    request: Callable[[RpcRequest], Coroutine[Any, Any, Reply]],
    track: Track | None = None,
) -> list[Reply] | Reply | None:
    """The answer to a batch: a list of entries, one error (empty batch), or None.

    `request(message)` returns the JSON-RPC response of one request; `track(id, task)` is told
    of each request's task so `notifications/cancelled` can reach it.
    """
    if not items:
        return refused(EMPTY)
    replies: list[Reply] = []
    tasks: list[asyncio.Task[Reply]] = []
    for item in items:
        try:
            message = jsonrpc.parse_message(item)
        except RpcError as err:
            replies.append(jsonrpc.error(jsonrpc.request_id_of(item), err, null_id=True))
            continue
        if isinstance(message, Notification):
            await notify(message)
        elif isinstance(message, RpcRequest):
            task = asyncio.create_task(request(message))
            if track is not None:
                track(message.id, task)
            tasks.append(task)
    for done in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(done, dict):
            replies.append(done)
        elif not isinstance(done, asyncio.CancelledError):
            raise done
    return replies or None
