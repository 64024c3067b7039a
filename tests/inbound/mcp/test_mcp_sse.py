"""`sse.answer` when the call is cancelled (issue 9 item 1), at the ASGI level: no JSON-RPC
message is sent, the exchange ends (an empty stream, an ended stream, or 202 for a JSON-only
client), and a notification queued in the same instant as the cancellation still goes first."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from toolwire.inbound.mcp import sse
from toolwire.inbound.mcp.media import Accepts

BOTH = Accepts(json=True, sse=True)
JSON_ONLY = Accepts(json=True, sse=False)
PROGRESS = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}


async def exchange(accepts: Accepts, emits: bool, cancel_in_same_tick: bool) -> list[Any]:
    """What `answer` sends for a call that (maybe) emits once and is then cancelled."""
    sent: list[Any] = []
    started: list[asyncio.Task[Any]] = []
    on_wire = asyncio.Event()
    never = asyncio.Event()

    async def send(message: Any) -> None:
        sent.append(message)
        if message.get("body"):
            on_wire.set()

    async def receive() -> Any:
        await never.wait()  # the client stays

    async def run(emit: sse.Emit) -> dict[str, Any]:
        if emits:
            await emit(PROGRESS)
            if cancel_in_same_tick:
                started[0].cancel()
        await never.wait()
        return {}

    async def cancel_once_running() -> None:
        if emits and not cancel_in_same_tick:
            await on_wire.wait()  # the stream is open and the event sent
        if not cancel_in_same_tick:
            started[0].cancel()

    with anyio.fail_after(5):
        canceller = asyncio.create_task(cancel_once_running())
        await sse.answer(
            {"type": "http"},
            send,
            receive,
            run,
            accepts=accepts,
            status_of=lambda _m: 200,
            on_started=started.append,
        )
        await canceller
    return sent


def kinds(sent: list[Any]) -> tuple[int, list[bytes], bool]:
    start = sent[0]
    bodies = [m.get("body", b"") for m in sent[1:]]
    return start["status"], [b for b in bodies if b], sent[-1].get("more_body", False)


@pytest.mark.parametrize(
    ("accepts", "status", "content_type"),
    [(BOTH, 200, b"text/event-stream"), (JSON_ONLY, 202, None)],
)
async def test_a_call_cancelled_before_any_event_sends_no_message(
    accepts: Accepts, status: int, content_type: bytes | None
) -> None:
    sent = await exchange(accepts, emits=False, cancel_in_same_tick=False)
    headers = dict(sent[0]["headers"])
    assert kinds(sent) == (status, [], False)
    assert headers.get(b"content-type") == content_type


@pytest.mark.parametrize("same_tick", [False, True], ids=["later", "same-tick"])
async def test_a_call_cancelled_mid_stream_ends_the_stream_after_its_notifications(
    same_tick: bool,
) -> None:
    sent = await exchange(BOTH, emits=True, cancel_in_same_tick=same_tick)
    status, bodies, more = kinds(sent)
    assert (status, more) == (200, False)
    assert len(bodies) == 1 and b'"notifications/progress"' in bodies[0]


async def inline(accepts: Accepts, notify: bool) -> tuple[list[Any], sse.Emit]:
    """What `answer` sends for a call nobody cancels by id (the inline path), and its `emit`."""
    sent: list[Any] = []
    kept: list[sse.Emit] = []
    never = asyncio.Event()

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        await never.wait()  # the client stays

    async def run(emit: sse.Emit) -> dict[str, Any]:
        kept.append(emit)
        if notify:
            await emit(PROGRESS)
        return {"jsonrpc": "2.0", "id": 1, "result": {}}

    with anyio.fail_after(5):
        await sse.answer(
            {"type": "http"}, send, receive, run, accepts=accepts, status_of=lambda _m: 200
        )
    return sent, kept[0]


async def test_an_inline_answer_without_notifications_is_one_json_response() -> None:
    sent, _ = await inline(BOTH, notify=False)
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert b'"result"' in sent[1]["body"] and not sent[-1].get("more_body", False)


async def test_an_inline_answer_streams_its_notifications_then_the_result_and_ends() -> None:
    sent, _ = await inline(BOTH, notify=True)
    status, bodies, more = kinds(sent)
    assert status == 200 and (b"content-type", b"text/event-stream") in sent[0]["headers"]
    assert b"notifications/progress" in bodies[0] and b'"result"' in bodies[1]
    assert not more


async def test_a_notification_emitted_after_an_inline_answer_is_dropped() -> None:
    for notify in (False, True):
        sent, emit = await inline(BOTH, notify=notify)
        before = list(sent)
        await emit(PROGRESS)  # the call kept running (parked for input rounds): nobody listens
        assert sent == before


async def test_a_json_only_client_gets_no_notifications_inline() -> None:
    sent, _ = await inline(JSON_ONLY, notify=True)
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert len(sent) == 2
