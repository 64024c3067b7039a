"""The tool timeout's clock stops while the client is asked (`toolwire.core.pause`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from toolwire.core.pause import PausingChannel
from toolwire.core.ports import InvokeContext


class SlowClient:
    """A channel whose client takes `seconds` to answer a request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        return {"elicitation": {}}

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        return None

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        return None

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(self.seconds)
        return {"action": "accept"}


async def test_the_deadline_does_not_run_while_the_client_answers() -> None:
    async with asyncio.timeout(0.2) as deadline:
        channel = PausingChannel(SlowClient(0.3), deadline, lambda: False)
        await asyncio.sleep(0.05)
        answers = await asyncio.gather(*(channel.request("elicitation/create", {}) for _ in (1, 2)))
        left = (deadline.when() or 0) - asyncio.get_running_loop().time()
    assert answers == [{"action": "accept"}] * 2
    assert 0.08 < left <= 0.16  # the 0.15 s that were left, less a little


async def test_the_work_around_the_question_still_times_out() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2) as deadline:
            channel = PausingChannel(SlowClient(0.3), deadline, lambda: False)
            await channel.request("elicitation/create", {})
            await asyncio.sleep(0.3)


async def test_a_drain_stops_a_paused_call() -> None:
    stopping = False
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(10) as deadline:
            channel = PausingChannel(SlowClient(5), deadline, lambda: stopping)
            asking = asyncio.ensure_future(channel.request("elicitation/create", {}))
            await asyncio.sleep(0.05)
            stopping = True
            deadline.reschedule(asyncio.get_running_loop().time())  # Gateway.stop_calls
            await asking


def test_with_channel_is_replace_with_that_channel() -> None:
    """`InvokeContext.with_channel` (the gateway's per-call copy) keeps every other field, as
    `dataclasses.replace` does: a field added to the context must be added there too."""

    async def changed() -> None:
        return None

    principal: Any = object()

    ctx = InvokeContext(
        "req_1",
        principal,
        {"token": "t"},
        None,
        changed,
        {"traceparent": "00-x"},
    )
    _ = ctx.cancelled  # made: the copy shares it
    channel: Any = object()
    copied = ctx.with_channel(channel)
    expected = dataclasses.replace(ctx, channel=channel)
    for f in dataclasses.fields(InvokeContext):
        assert getattr(copied, f.name) is getattr(expected, f.name), f.name
