"""The MCP door's per-application runtime: what its transports share while the app runs.

- the `Kernel` (over `Handlers` and the app's gateway) and the `SessionStore` over its secret and
  state backend; `connection()` restores a session's `Connection` and keeps what changes in it;
- the 2026-07-28 tool calls parked for `input_required` rounds (`rounds`), reachable from other
  instances over `mcp:rounds:<instance>` (`round_relay`);
- the calls running in this process, by (session id, JSON-RPC id), so `notifications/cancelled`
  can stop them; a cancellation for a call running on another instance travels over the state
  backend's `mcp:cancel` channel to the instance that runs it;
- change fan-out: `tools_changed()` (and `announce_*` below, without a runtime) append to the
  shared event log and publish on its channel (`changes`, so a GET stream can be resumed with
  `Last-Event-ID` on any instance), which every open GET stream, legacy SSE stream, stdio
  connection and `subscriptions/listen` stream of every instance relays.

Built in the app's lifespan (`toolwire.app`, which closes it on shutdown) and stored on
`app.state`, so two apps in one process share nothing; stdio builds its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any

import orjson

from toolwire.core.federated import ContentKind
from toolwire.core.model import Principal
from toolwire.inbound.face import Face
from toolwire.inbound.mcp import changes
from toolwire.inbound.mcp.asks import Asks
from toolwire.inbound.mcp.handlers import CallChannel, Handlers
from toolwire.inbound.mcp.jsonrpc import RequestId
from toolwire.inbound.mcp.kernel import Connection, Kernel
from toolwire.inbound.mcp.round_relay import RoundRelay
from toolwire.inbound.mcp.round_state import RoundSealer
from toolwire.inbound.mcp.rounds import Rounds
from toolwire.inbound.mcp.sessions import Session, SessionSealer, SessionStore
from toolwire.inbound.mcp.subscriptions import Subscriptions
from toolwire.state import StateBackend

log = logging.getLogger("toolwire.mcp")

CANCEL_CHANNEL = "mcp:cancel"


class Runtime:
    def __init__(self, services: Face) -> None:
        self.services = services
        self.state: StateBackend = services.state
        self.handlers = Handlers(services.gateway)
        self.subscriptions = Subscriptions(self.state, services.settings.mcp_session_ttl_s)
        """Each session's subscribed federated resources (`subscriptions`)."""
        self.rounds = Rounds(
            RoundSealer(services.secret_key),
            CallChannel,
            RoundRelay(self.state, services.settings.mcp_relay_timeout_s),
            input_timeout=services.settings.mcp_input_timeout_s,
        )
        """2026-07-28 tool calls parked for `input_required` rounds (`rounds`)."""
        self.kernel = Kernel(
            self.handlers,
            cancel=self.cancel,
            tools_changed=self.tools_changed,
            asks=Asks(self.state),
            subscriptions=self.subscriptions,
            rounds=self.rounds,
        )
        ttl = services.settings.mcp_session_ttl_s
        self.sessions = SessionStore(SessionSealer(services.secret_key, ttl_s=ttl), self.state)
        self._running: dict[tuple[str, RequestId], asyncio.Task[Any]] = {}
        self._listener: asyncio.Task[None] | None = None

    # -- connections -----------------------------------------------------------------------------

    def connection(self, principal: Principal, session: Session) -> Connection:
        """The `Connection` of an opened session; what changes in it (initialize, log level) is
        kept in the session's state record (`SessionStore.keep`)."""

        async def keep(conn: Connection) -> None:
            await self.sessions.keep(
                replace(
                    session,
                    version=conn.version or session.version,
                    client_info=conn.client_info,
                    client_capabilities=conn.client_capabilities,
                    log_level=conn.log_level,
                )
            )

        return Connection(
            principal=principal,
            id=session.id,
            version=session.version,
            client_info=session.client_info,
            client_capabilities=session.client_capabilities,
            log_level=session.log_level,
            keep=keep,
        )

    # -- running calls and their cancellation -------------------------------------------------

    def track(self, session_id: str, rid: RequestId, task: asyncio.Task[Any]) -> None:
        self._running[(session_id, rid)] = task
        task.add_done_callback(lambda _t: self._running.pop((session_id, rid), None))
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen_for_cancels(), name="mcp-cancel")

    async def cancel(self, session_id: str, rid: Any) -> None:
        """Cancel the call `rid` of the session, wherever it runs; unknown ids are ignored."""
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            return
        if self._cancel_here(session_id, rid):
            return
        await self.state.publish(CANCEL_CHANNEL, orjson.dumps([session_id, rid]))

    def _cancel_here(self, session_id: str, rid: RequestId) -> bool:
        task = self._running.get((session_id, rid))
        if task is None:
            return False
        task.cancel()
        return True

    async def _listen_for_cancels(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            async with self.state.subscribe(CANCEL_CHANNEL) as messages:
                async for raw in messages:
                    try:
                        session_id, rid = orjson.loads(raw)
                    except (orjson.JSONDecodeError, ValueError, TypeError):
                        continue
                    if isinstance(session_id, str) and isinstance(rid, (str, int)):
                        self._cancel_here(session_id, rid)

    async def aclose(self) -> None:
        """Stop listening for cancellations and client answers from other instances."""
        await self.kernel.asks.aclose()
        await self.rounds.aclose()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    # -- list changed --------------------------------------------------------------------------

    async def tools_changed(self) -> None:
        """Tell every open stream of every instance that the tool list changed, and log it for
        streams that resume later."""
        await changes.announce(self.state, "tools")


def runtime_of(app: Any) -> Runtime:
    """The app's MCP runtime (built by the lifespan)."""
    runtime: Runtime = app.state.mcp_runtime
    return runtime


async def announce_tools_changed(state: StateBackend) -> None:
    """`Runtime.tools_changed` without a runtime: what the gateway's catalog-changed listener
    calls (wired in `toolwire.app`), so every transport's clients hear of it, stdio included."""
    await changes.announce(state, "tools")


async def announce_content_changed(state: StateBackend, kind: ContentKind) -> None:
    """A federated server's resource (or resource template) or prompt list changed: what the
    federation's list listener calls (wired in `toolwire.app`), so every client hears of it."""
    await changes.announce(state, "prompts" if kind == "prompts" else "resources")
