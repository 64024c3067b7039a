"""The connection kernel (issue 10 item 2): what every transport now gets from one place.

- a handshake-era request reads the state backend once (the session's record), not once for
  "was it ended" and again for the log level (and a third time for the legacy version);
- the log level a client sets is kept in that record and applies to its next calls;
- a list change made by a tool called over stdio goes through the runtime into the shared event
  log, so an HTTP stream resuming with `Last-Event-ID` replays it (stdio itself has nothing to
  resume: its stream is the process);
- a handler failure is wrapped once, as -32603, whichever transport carried the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.inbound.mcp.conftest import Gateway
from toolwire.inbound.mcp import changes
from toolwire.inbound.mcp.handlers import Handlers
from toolwire.inbound.mcp.jsonrpc import INTERNAL_ERROR
from toolwire.inbound.mcp.runtime import runtime_of
from toolwire.state import StateBackend


class CountingReads:
    """A state backend that counts `get` calls and forwards everything."""

    def __init__(self, inner: StateBackend) -> None:
        self.inner = inner
        self.reads = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        return await self.inner.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def counted(gateway: Gateway) -> Iterator[CountingReads]:
    sessions = runtime_of(gateway.http.app).sessions
    counting = CountingReads(sessions.state)
    sessions.state = counting  # type: ignore[assignment]
    try:
        yield counting
    finally:
        sessions.state = counting.inner


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("ping", None),
        ("tools/list", None),
        ("tools/call", {"name": "echo", "arguments": {"message": "x"}}),
    ],
)
def test_a_handshake_request_reads_the_state_backend_once(
    gateway: Gateway, counted: CountingReads, method: str, params: Any
) -> None:
    session = gateway.initialize()
    counted.reads = 0
    assert gateway.call(session, method, params).status_code == 200
    assert counted.reads == 1


def test_the_log_level_is_kept_for_the_sessions_next_calls(
    gateway: Gateway, counted: CountingReads
) -> None:
    session = gateway.initialize()
    quiet = gateway.call(session, "tools/call", {"name": "test_logging_tool"})
    gateway.call(session, "logging/setLevel", {"level": "warning"})
    counted.reads = 0
    loud = gateway.call(session, "tools/call", {"name": "test_logging_tool"})
    assert '"notifications/message"' not in quiet.text
    assert loud.text.count('"notifications/message"') == 2
    assert counted.reads == 1


def test_a_list_change_made_over_stdio_enters_the_shared_event_log(gateway: Gateway) -> None:
    state = gateway.http.app.state.face.state  # type: ignore[attr-defined]
    before = gateway.http.portal.call(changes.logged, state)  # type: ignore[union-attr]
    call = {"name": "test_trigger_tool_change", "arguments": {}}
    written = gateway.stdio([{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}])
    after = gateway.http.portal.call(changes.logged, state)  # type: ignore[union-attr]
    assert len(after) == len(before) + 1
    assert {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"} in written


@pytest.fixture
def broken_ping(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`ping` raises, in the app's running handlers and in any built later (stdio)."""

    async def boom(self: Handlers, ctx: Any, request: Any) -> dict[str, Any]:
        raise RuntimeError("handler bug")

    monkeypatch.setattr(Handlers, "ping", boom)
    methods = runtime_of(gateway.http.app).handlers._methods
    saved = methods["ping"]
    methods["ping"] = boom.__get__(runtime_of(gateway.http.app).handlers)
    try:
        yield
    finally:
        methods["ping"] = saved


def test_a_handler_failure_is_wrapped_once_on_every_transport(
    gateway: Gateway, broken_ping: None
) -> None:
    session = gateway.initialize()
    over_http = gateway.call(session, "ping").json()
    over_stdio = gateway.stdio([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])[-1]
    expected = {"code": INTERNAL_ERROR, "message": "internal error"}
    assert over_http["error"] == over_stdio["error"] == expected
