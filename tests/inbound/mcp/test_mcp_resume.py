"""Resuming the handshake-era GET /mcp stream with `Last-Event-ID`.

The stream never ends, so these tests drive the app over raw ASGI inside the TestClient's own
event loop (`portal.call`), reading SSE frames as they are sent, every wait bounded by fail_after.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from tests.inbound.mcp.conftest import ACCEPT, MODERN, Gateway
from toolwire.inbound.mcp import changes, resume
from toolwire.inbound.mcp.runtime import runtime_of
from toolwire.state.memory import MemoryState

LIST_CHANGED = b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'
EVENT_ID = re.compile(r"^g[A-Za-z0-9_-]{16}:[0-9]+$")


class SseReader:
    """The frames of one streamed ASGI response, parsed as they arrive."""

    def __init__(self) -> None:
        self.status = 0
        self.started = anyio.Event()
        self._send, self._chunks = anyio.create_memory_object_stream[bytes](100)
        self._buffer = b""

    async def asgi_send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started.set()
        elif message.get("body"):
            await self._send.send(message["body"])

    async def event(self) -> dict[str, bytes]:
        """The next frame carrying a field (comments skipped): {"id": ..., "data": ...}."""
        while True:
            while b"\n\n" not in self._buffer:
                self._buffer += await self._chunks.receive()
            frame, self._buffer = self._buffer.split(b"\n\n", 1)
            fields: dict[str, bytes] = {}
            for line in frame.split(b"\n"):
                if line and not line.startswith(b":"):
                    name, _, value = line.partition(b":")
                    fields[name.decode()] = value.removeprefix(b" ")
            if fields:
                return fields

    def close(self) -> None:
        self._send.close()
        self._chunks.close()


@asynccontextmanager
async def get_stream(
    gateway: Gateway, session: str, *, key: str | None = None, **headers: str
) -> AsyncIterator[SseReader]:
    """An open `GET /mcp` of `session`; the client disconnects when the block ends."""
    sent = {
        "host": "127.0.0.1:8787",
        "authorization": f"Bearer {key or gateway.key}",
        "accept": ACCEPT,
        "mcp-session-id": session,
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8787),
        "state": dict(gateway.http.app_state),
    }
    reader = SseReader()
    gone = anyio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async with anyio.create_task_group() as tg:
        tg.start_soon(gateway.http.app, scope, receive, reader.asgi_send)
        await reader.started.wait()
        try:
            yield reader
        finally:
            gone.set()
    reader.close()


def in_app(gateway: Gateway, scenario: Callable[[], Awaitable[None]]) -> None:
    """Run `scenario` in the app's event loop, bounded."""

    async def bounded() -> None:
        with anyio.fail_after(10):
            await scenario()

    assert gateway.http.portal is not None
    gateway.http.portal.call(bounded)


async def tools_changed(gateway: Gateway) -> None:
    await runtime_of(gateway.http.app).tools_changed()


def seq_of(event_id: bytes) -> int:
    return int(event_id.rsplit(b":", 1)[1])


def test_get_stream_events_have_ids_naming_the_stream_and_a_sequence(gateway: Gateway) -> None:
    session = gateway.initialize("2025-11-25")
    seen: list[dict[str, bytes]] = []

    async def scenario() -> None:
        async with get_stream(gateway, session) as stream:
            seen.append(await stream.event())  # the priming event
            await tools_changed(gateway)
            seen.append(await stream.event())
            await tools_changed(gateway)
            seen.append(await stream.event())

    in_app(gateway, scenario)
    priming, first, second = seen
    assert priming["data"] == b""
    assert all(EVENT_ID.match(event["id"].decode()) for event in seen)
    streams = {event["id"].rsplit(b":", 1)[0] for event in seen}
    assert len(streams) == 1
    assert first["data"] == second["data"] == LIST_CHANGED
    assert seq_of(first["id"]) > seq_of(priming["id"])
    assert seq_of(second["id"]) == seq_of(first["id"]) + 1


def test_last_event_id_replays_what_the_stream_missed_then_continues_live(
    gateway: Gateway,
) -> None:
    session = gateway.initialize("2025-11-25")
    seen: list[dict[str, bytes]] = []

    async def scenario() -> None:
        async with get_stream(gateway, session) as stream:
            last = (await stream.event())["id"]
        await tools_changed(gateway)  # missed: nobody is connected
        await tools_changed(gateway)
        async with get_stream(gateway, session, last_event_id=last.decode()) as stream:
            seen.append(await stream.event())
            seen.append(await stream.event())
            await tools_changed(gateway)
            seen.append(await stream.event())
            seen.insert(0, {"id": last})

    in_app(gateway, scenario)
    start = seq_of(seen[0]["id"])
    assert [seq_of(event["id"]) for event in seen[1:]] == [start + 1, start + 2, start + 3]
    assert all(event["data"] == LIST_CHANGED for event in seen[1:])


def test_a_resumed_stream_replays_missed_list_changes_and_its_sessions_resource_updates(
    gateway: Gateway,
) -> None:
    """Resources and prompts list changes, and updates of the resources this session holds,
    are logged like tool list changes: a stream resumed after them replays them, in order; an
    update of a resource the session did not subscribe to is not replayed (nor sent live)."""
    session = gateway.initialize("2025-11-25")
    runtime = runtime_of(gateway.http.app)
    mine, other = "toolwire://up/x://mine", "toolwire://up/x://other"
    seen: list[dict[str, bytes]] = []

    async def scenario() -> None:
        await runtime.subscriptions.add(runtime.sessions.sealer.open(session).id, mine)
        async with get_stream(gateway, session) as stream:
            last = (await stream.event())["id"]
        await changes.announce(runtime.state, "resources")  # missed: nobody is connected
        await changes.announce(runtime.state, "updated", other)
        await changes.announce(runtime.state, "updated", mine)
        await changes.announce(runtime.state, "prompts")
        async with get_stream(gateway, session, last_event_id=last.decode()) as stream:
            seen.extend([await stream.event() for _ in range(3)])
            await changes.announce(runtime.state, "updated", other)
            await changes.announce(runtime.state, "updated", mine)
            seen.append(await stream.event())

    in_app(gateway, scenario)
    assert [event["data"] for event in seen] == [
        b'{"jsonrpc":"2.0","method":"notifications/resources/list_changed"}',
        b'{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"%s"}}'
        % mine.encode(),
        b'{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}',
        b'{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"%s"}}'
        % mine.encode(),
    ]
    assert all(EVENT_ID.match(event["id"].decode()) for event in seen)


def test_a_last_event_id_of_another_session_replays_nothing_of_it(gateway: Gateway) -> None:
    mine = gateway.initialize("2025-11-25")
    theirs = gateway.initialize("2025-11-25", key=gateway.other_key)
    seen: list[dict[str, bytes]] = []

    async def scenario() -> None:
        async with get_stream(gateway, theirs, key=gateway.other_key) as stream:
            foreign = (await stream.event())["id"].decode()
        seen.append({"id": foreign.encode()})
        await tools_changed(gateway)  # after `foreign`: replaying it would leak it
        async with get_stream(gateway, mine, last_event_id=foreign) as stream:
            seen.append(await stream.event())
            await tools_changed(gateway)
            seen.append(await stream.event())
        # Someone else's session id with this key is not found, whatever the Last-Event-ID.
        async with get_stream(gateway, theirs, last_event_id=foreign) as stream:
            assert stream.status == 404

    in_app(gateway, scenario)
    foreign, priming, live = seen
    assert priming["data"] == b""  # a fresh stream: nothing replayed
    assert priming["id"].rsplit(b":", 1)[0] != foreign["id"].rsplit(b":", 1)[0]
    assert live["data"] == LIST_CHANGED


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18"])
def test_earlier_streamable_http_versions_get_ids_and_resume_without_a_priming_event(
    gateway: Gateway, version: str
) -> None:
    session = gateway.initialize(version)
    seen: list[dict[str, bytes]] = []

    async def scenario() -> None:
        async with get_stream(gateway, session) as stream:
            await tools_changed(gateway)
            seen.append(await stream.event())
        await tools_changed(gateway)
        last = seen[0]["id"].decode()
        async with get_stream(gateway, session, last_event_id=last) as stream:
            seen.append(await stream.event())

    in_app(gateway, scenario)
    live, replayed = seen
    assert live["data"] == replayed["data"] == LIST_CHANGED
    assert EVENT_ID.match(live["id"].decode())
    assert seq_of(replayed["id"]) == seq_of(live["id"]) + 1


def test_2024_11_05_streams_have_no_ids_and_ignore_last_event_id(gateway: Gateway) -> None:
    session = gateway.initialize("2024-11-05")
    seen: list[dict[str, bytes]] = []

    async def scenario() -> None:
        async with get_stream(gateway, session, last_event_id="anything:0") as stream:
            await tools_changed(gateway)
            seen.append(await stream.event())

    in_app(gateway, scenario)
    assert seen == [{"event": b"message", "data": LIST_CHANGED}]


def test_2026_07_28_ignores_last_event_id(gateway: Gateway) -> None:
    headers = {"last-event-id": "g0123456789abcdef:1"}
    discovered = gateway.modern("server/discover", headers=headers)
    assert discovered.status_code == 200
    assert "result" in discovered.json()
    got = gateway.http.get(
        "/mcp",
        headers={
            "authorization": f"Bearer {gateway.key}",
            "accept": ACCEPT,
            "mcp-protocol-version": MODERN,
            **headers,
        },
    )
    assert got.status_code == 405


def test_malformed_and_foreign_event_ids_resume_nothing() -> None:
    stream = resume.get_stream_id("session")
    assert resume.resume_after(f"{stream}:7", stream) == 7
    assert resume.resume_after(f"{resume.get_stream_id('other')}:7", stream) is None
    for bad in (None, "", "7", f"{stream}:", f"{stream}:-1", f"{stream}:x", f"{stream}:٣"):
        assert resume.resume_after(bad, stream) is None
    assert resume.resume_after(f"{stream}:{'9' * 80}", stream) is None


def test_a_log_that_expired_and_restarted_is_replayed_whole() -> None:
    assert resume.missed([3, 4, 5], 3) == [4, 5]
    assert resume.missed([1, 2], 9) == [1, 2]
    assert resume.missed([], 4) == []


async def test_the_event_log_is_one_key_bounded_in_length() -> None:
    state = MemoryState()
    for _ in range(changes.EVENT_LOG_MAX + 10):
        await changes.announce(state, "tools")
    logged = [change.seq for change in await changes.logged(state)]
    assert logged == list(range(11, changes.EVENT_LOG_MAX + 11))
    assert len(state) == 1


async def test_the_event_log_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "EVENT_LOG_TTL_S", 0.0)
    state = MemoryState()
    await changes.announce(state, "tools")
    assert await changes.logged(state) == []
    assert len(state) == 0
