"""A client that goes away mid-call cancels it: over the REST door and the OpenAI tool_calls door,
a priced slow call whose client disconnects is released, never charged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support.books import eventually
from toolwire.inbound.disconnect import (
    EXTENSION,
    ClientGone,
    DisconnectSignal,
    disconnected,
    signal_of,
    unless_disconnected,
)
from toolwire.inbound.slow_clients import guarded_protocol
from toolwire.testing import RunningGateway, running_gateway

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"builtins": {"modules": ["tests.support.tools"]}, "prices": {"slow": 1}}
SLOW = {"seconds": 30}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path_factory.mktemp("disconnect"), config=CONFIG, env={"PYTHONPATH": str(REPO)}
    ) as gw:
        yield gw


REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "rest": ("/api/v1/execute", {"tool": "slow.sleep", "input": SLOW}),
    "openai": (
        "/api/v1/openai/tool_calls",
        {
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "slow__sleep", "arguments": '{"seconds": 30}'},
                }
            ]
        },
    ),
}


@pytest.mark.parametrize("door", sorted(REQUESTS))
async def test_a_client_that_disconnects_mid_call_is_not_charged(
    gateway: RunningGateway, door: str
) -> None:
    _, key = gateway.create_account(credits=10)
    path, body = REQUESTS[door]
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=60) as http:

        async def balance_is(value: float) -> bool:
            return float((await http.get("/api/v1/me")).json()["balance"]) == value

        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=60) as caller:
            call = asyncio.create_task(caller.post(path, json=body))
            await eventually(lambda: balance_is(9))  # the call holds its reservation
            call.cancel()  # closes the connection: the client is gone
            with pytest.raises(asyncio.CancelledError):
                await call

        await eventually(lambda: balance_is(10))  # released long before the 30 s sleep ends


# The server's disconnect signal (`GuardedHttpProtocol` → `DisconnectSignal`): the request's
# own task is cancelled from `connection_lost`, with no watcher reading `receive`.


async def _never() -> dict[str, Any]:
    await asyncio.Event().wait()  # a receive that never tells: only the signal can cancel
    raise AssertionError("unreachable")


async def test_the_signal_cancels_the_work_without_reading_receive() -> None:
    signal = DisconnectSignal()
    scope: dict[str, Any] = {"type": "http", "extensions": {EXTENSION: {"signal": signal}}}
    started = asyncio.Event()

    async def work() -> str:
        started.set()
        await asyncio.sleep(30)
        return "done"

    task = asyncio.create_task(unless_disconnected(scope, _never, work()))
    await started.wait()
    signal.fire()
    with pytest.raises(ClientGone):
        await task
    assert signal.callback is None


async def test_a_signal_fired_before_the_work_began_cancels_it_at_once() -> None:
    signal = DisconnectSignal()
    signal.fire()
    scope: dict[str, Any] = {"type": "http", "extensions": {EXTENSION: {"signal": signal}}}
    with pytest.raises(ClientGone):
        await unless_disconnected(scope, _never, asyncio.sleep(30))


async def test_work_that_ends_is_returned_and_a_foreign_cancellation_propagates() -> None:
    signal = DisconnectSignal()
    scope: dict[str, Any] = {"type": "http", "extensions": {EXTENSION: {"signal": signal}}}
    assert await unless_disconnected(scope, _never, asyncio.sleep(0, "ok")) == "ok"
    assert signal.callback is None  # unhooked: a later loss cancels nothing
    task = asyncio.create_task(unless_disconnected(scope, _never, asyncio.sleep(30)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_disconnected_resolves_from_the_signal() -> None:
    signal = DisconnectSignal()
    scope: dict[str, Any] = {"type": "http", "extensions": {EXTENSION: {"signal": signal}}}
    gone = disconnected(scope, _never)
    await asyncio.sleep(0)
    assert not gone.done()
    signal.fire()
    await asyncio.wait_for(gone, 5)
    other = disconnected(scope, _never)  # after the loss: resolved at once
    assert other.done()


async def test_the_guarded_protocol_fires_the_signal_when_the_connection_is_lost() -> None:
    seen: list[str] = []
    entered = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        entered.set()
        try:
            await unless_disconnected(scope, _never, asyncio.sleep(30))
        except ClientGone:
            seen.append("gone" if signal_of(scope) is not None else "gone without a signal")

    protocol = guarded_protocol(header_timeout=5, body_timeout=5, max_connections=10)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=protocol, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: _true(server.started))
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.wait_for(entered.wait(), 5)
        writer.close()
        await eventually(lambda: _true(seen == ["gone"]))
    finally:
        server.should_exit = True
        await serving


async def _true(value: bool) -> bool:
    return value
