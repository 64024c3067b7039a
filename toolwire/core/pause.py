"""The tool timeout's clock stops while the client is being asked (sampling, elicitation, roots).

`Gateway.invoke` runs an adapter under a `Deadline` (`asyncio.Timeout`'s contract). A tool
that asks its client something waits for a person or a model on the client's side, which is not
the tool's time: `PausingChannel` wraps the call's `Channel` so that, while at least one such
request is outstanding, the deadline is lifted, and when the last one is answered it is set
again with the time that was left. A drain (`Gateway.stop_calls`) still stops a paused call:
it moves the deadline to now, and the pause does not move it back while the gateway is
stopping.

What this is not: the ask's own bound (the door's: `asks.ASK_TIMEOUT_S` for handshake-era
clients, `TOOLWIRE_MCP_INPUT_TIMEOUT_S` for 2026-07-28 ones).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from toolwire.core.deadline import Deadline
from toolwire.core.ports import Channel


class PausingChannel:
    """`Channel` over `inner` whose `request` pauses `deadline` while it waits."""

    __slots__ = ("_deadline", "_depth", "_inner", "_left", "_stopping")

    def __init__(self, inner: Channel, deadline: Deadline, stopping: Callable[[], bool]) -> None:
        self._inner = inner
        self._deadline = deadline
        self._stopping = stopping
        self._depth = 0
        self._left: float | None = None

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        return self._inner.client_capabilities

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self._inner.progress(progress, total, message)

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        await self._inner.log(level, data, logger)

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        if self._depth == 0:
            when = self._deadline.when()
            self._left = None if when is None else max(0.0, when - loop.time())
            if not self._stopping() and not self._deadline.expired():
                self._deadline.reschedule(None)
        self._depth += 1
        try:
            return await self._inner.request(method, params)
        finally:
            self._depth -= 1
            resume = self._depth == 0 and self._left is not None and not self._stopping()
            if resume and self._left is not None and not self._deadline.expired():
                self._deadline.reschedule(loop.time() + self._left)
