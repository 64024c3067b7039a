"""The MCP connection kernel: one `Connection` per client and one `receive()` for its messages.

Streamable HTTP, legacy HTTP+SSE and stdio move bytes and keep a `Connection` between messages
(sealed in the session id plus one state-backend record, or held in memory for stdio); the
protocol between those bytes and the methods (`handlers`) is here, once:

    Kernel.receive(conn, message, emit)   a request -> its JSON-RPC response (never raises for a
                                          handler failure: every error is wrapped here); a
                                          notification -> handled (cancellation), None
    Kernel.batch(conn, items, track)      a JSON-RPC batch (2025-03-26 sessions only)
    Kernel.modern(principal, message, headers, schema_of, id)
                                          the Connection of one 2026-07-28 request, built from
                                          its validated envelope (stateless: it lives one request)

`initialize` (handshake era) negotiates the version and records the client's info and declared
capabilities on the Connection, then asks the transport to keep it (`Connection.keep`);
`logging/setLevel` does the same with the level. A client's response to a request the gateway
sent it (sampling, elicitation, roots: `asks`) is handed to the call waiting for it. The request
`Context` a handler sees is built in one place (`Kernel.context`), so every transport gives
handlers the same facts.

What this is not: framing, HTTP statuses, SSE, session tokens or where a Connection is stored
(the transports), or MCP methods (`handlers`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolwire.core.ids import random_hex
from toolwire.core.model import Principal
from toolwire.inbound.mcp import batch, envelope, jsonrpc, versions
from toolwire.inbound.mcp.asks import Asks
from toolwire.inbound.mcp.handlers import (
    Context,
    Era,
    Handlers,
    NoSubscriptions,
    RoundsPort,
    SessionSubscriptions,
    new_request_id,
)
from toolwire.inbound.mcp.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    Message,
    Notification,
    RpcError,
    RpcRequest,
)

log = logging.getLogger("toolwire.mcp")

Reply = dict[str, Any]
Emit = Callable[[dict[str, Any]], Awaitable[None]]
Keep = Callable[["Connection"], Awaitable[None]]
Cancel = Callable[[str, Any], Awaitable[None]]
Changed = Callable[[], Awaitable[None]]

NOT_INITIALIZED = "no session: send initialize first"
BATCHES_ONLY = "JSON-RPC batches are accepted only in 2025-03-26 sessions"


async def drop(_message: dict[str, Any]) -> None:
    """An `Emit` for requests whose notifications have nowhere to go (batch entries)."""
    return None


async def keep_nothing(_conn: Connection) -> None:
    return None


def new_connection_id() -> str:
    return random_hex(16)  # 128 random bits, as uuid4 gave


@dataclass(slots=True)
class Connection:
    """One MCP client as the kernel sees it.

    id:         the key its running calls are tracked by (the session's random id; stdio: one
                per process), so `notifications/cancelled` finds them
    era:        "handshake" (initialize, sessions) or "modern" (2026-07-28, one request)
    version:    the negotiated protocol version; None until `initialize`
    keep:       called after `initialize` and `logging/setLevel` changed the connection, so the
                transport stores it (state backend record, or nothing for stdio and for a new
                HTTP session, whose token is sealed after the answer)
    """

    principal: Principal
    id: str
    era: Era = "handshake"
    version: str | None = None
    client_info: dict[str, Any] = field(default_factory=dict)
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    log_level: str | None = None
    keep: Keep = keep_nothing


_NO_SUBSCRIPTIONS = NoSubscriptions()
"""A stateless request's (it holds nothing: one serves every request)."""


class Kernel:
    """`receive()` over one `Handlers`; `cancel` and `tools_changed` come from the runtime
    (they reach other instances through the state backend)."""

    def __init__(
        self,
        handlers: Handlers,
        *,
        cancel: Cancel,
        tools_changed: Changed,
        asks: Asks | None = None,
        subscriptions: SessionSubscriptions | None = None,
        rounds: RoundsPort | None = None,
    ) -> None:
        self.handlers = handlers
        self.rounds = rounds
        """Parks 2026-07-28 tool calls for `input_required` rounds (`rounds.Rounds`)."""
        self.asks = asks or Asks()
        self.subscriptions: SessionSubscriptions = subscriptions or NoSubscriptions()
        self._cancel = cancel
        self._tools_changed = tools_changed

    async def receive(self, conn: Connection, message: Message, emit: Emit = drop) -> Reply | None:
        """The JSON-RPC response to `message`, or None (notifications, client responses)."""
        if isinstance(message, RpcRequest):
            return await self.request(conn, message, emit)
        if isinstance(message, Notification):
            await self.notify(conn, message)
        else:
            await self.asks.answer(conn.id, message)
        return None

    async def notify(self, conn: Connection, message: Notification) -> None:
        if message.method == "notifications/cancelled":
            await self._cancel(conn.id, message.params.get("requestId"))

    async def request(self, conn: Connection, request: RpcRequest, emit: Emit = drop) -> Reply:
        """The one place a request's errors are wrapped: `RpcError` as sent, anything else
        (logged with its request id) as `-32603`; cancellation propagates."""
        request_id = new_request_id()
        try:
            body = await self._dispatch(conn, request, emit, request_id)
        except RpcError as err:
            return jsonrpc.error(request.id, err)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("MCP handler failed", extra={"request_id": request_id})
            return jsonrpc.error(request.id, RpcError(jsonrpc.INTERNAL_ERROR, "internal error"))
        return jsonrpc.result(request.id, body)

    async def batch(
        self, conn: Connection, items: list[Any], track: batch.Track | None = None
    ) -> list[Reply] | Reply | None:
        """A batch's answer (`batch.answer`); one refusal outside 2025-03-26 sessions."""
        if not items:
            return batch.refused(batch.EMPTY)
        if conn.version is None or not versions.batches_allowed(conn.version):
            return batch.refused(BATCHES_ONLY)

        async def one(request: RpcRequest) -> Reply:
            return await self.request(conn, request)

        return await batch.answer(
            items, notify=lambda n: self.notify(conn, n), request=one, track=track
        )

    def modern(
        self,
        principal: Principal,
        message: Message,
        headers: Mapping[str, str],
        schema_of: envelope.SchemaOf,
        conn_id: str,
    ) -> Connection:
        """The Connection of one 2026-07-28 request; `RpcError` when its envelope is wrong."""
        meta = envelope.check_modern(message, headers, schema_of)
        return Connection(
            principal=principal,
            id=conn_id,
            era="modern",
            version=meta.version,
            client_info=meta.client_info,
            client_capabilities=meta.client_capabilities,
            log_level=meta.log_level,
        )

    def context(self, conn: Connection, emit: Emit, request_id: str) -> Context:
        """What a handler knows about the request: built here only."""

        async def set_log_level(level: str) -> None:
            conn.log_level = level
            await conn.keep(conn)

        async def ask(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
            return await self.asks.ask(
                conn.id, conn.era, conn.client_capabilities, emit, method, params
            )

        return Context(
            principal=conn.principal,
            version=conn.version or versions.LATEST_HANDSHAKE,
            era=conn.era,
            request_id=request_id,
            emit=emit,
            log_level=conn.log_level,
            set_log_level=set_log_level,
            client_capabilities=conn.client_capabilities,
            tools_changed=self._tools_changed,
            ask=ask,
            session_id=conn.id,
            subscriptions=self.subscriptions if conn.era == "handshake" else _NO_SUBSCRIPTIONS,
            rounds=self.rounds if conn.era == "modern" else None,
        )

    async def _dispatch(
        self, conn: Connection, request: RpcRequest, emit: Emit, request_id: str
    ) -> dict[str, Any]:
        if request.method == "initialize" and conn.era == "handshake":
            return await self._initialize(conn, request)
        if conn.version is None and request.method != "ping":
            raise RpcError(INVALID_REQUEST, NOT_INITIALIZED)
        return await self.handlers.handle(self.context(conn, emit, request_id), request)

    async def _initialize(self, conn: Connection, request: RpcRequest) -> dict[str, Any]:
        requested = request.params.get("protocolVersion")
        if not isinstance(requested, str):
            raise RpcError(INVALID_PARAMS, "initialize needs params.protocolVersion, a string")
        info = request.params.get("clientInfo")
        capabilities = request.params.get("capabilities")
        conn.version = versions.negotiate(requested)
        conn.client_info = info if isinstance(info, dict) else {}
        conn.client_capabilities = capabilities if isinstance(capabilities, dict) else {}
        await conn.keep(conn)
        return self.handlers.initialize_result(conn.version)


def is_initialize(message: Message) -> bool:
    """A handshake-era `initialize` request (one without a 2026-07-28 `_meta` version)."""
    return (
        isinstance(message, RpcRequest)
        and message.method == "initialize"
        and envelope.meta_version(message.params) is None
    )
