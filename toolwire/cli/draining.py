"""The uvicorn server every `toolwire serve` process runs: uvicorn's graceful shutdown, plus the
drain deadline in the core.

uvicorn's shutdown closes the listener, lets requests in flight finish for
`timeout_graceful_shutdown` seconds, then cancels their tasks; a request cancelled that way is
answered with a plain-text 500 (or not at all). Ours stops the calls first: at
`drain_timeout_s` the gateway fails every call still running with `Unavailable`
(`details.reason == "draining"`, `Gateway.stop_calls`), released and audited, which each door
answers in its own form (REST 503 + `Retry-After`, MCP's error, A2A's failed task). uvicorn's
own deadline comes `ANSWER_GRACE_S` later (`workers.server_config`): time for the doors to
write those answers; what still runs then (an open SSE stream) is cancelled as before.
Design note: docs/design/scale-out.md.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from starlette.applications import Starlette

from toolwire.app import stop_calls

log = logging.getLogger("toolwire.drain")

ANSWER_GRACE_S = 2.0
"""Between the core's drain deadline and uvicorn's: for the doors to answer the stopped calls."""


class DrainingServer(uvicorn.Server):
    """`uvicorn.Server` whose shutdown stops the app's calls at `drain_timeout_s` (seconds)."""

    def __init__(self, config: uvicorn.Config, *, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.drain_timeout_s = drain_timeout_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        deadline = None
        if isinstance(app, Starlette):
            loop = asyncio.get_running_loop()
            deadline = loop.call_later(self.drain_timeout_s, stop_calls, app)
        try:
            await super().shutdown(sockets)
        finally:
            if deadline is not None:
                deadline.cancel()
