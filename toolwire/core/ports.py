"""What the core needs from the outside world, as Protocols.

`toolwire.upstream` implements `Adapter`; `toolwire.store` implements `KeyStore`, `Ledger` and
`AuditSink`; `toolwire.app` wires them into the `Gateway`. The core never imports an implementation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from toolwire.core.model import AuditEvent, Outcome, Principal, Reservation, ToolCall

if TYPE_CHECKING:
    from toolwire.core.catalog import Operation, ToolSpec


CLIENT_REQUEST_CAPABILITY: Mapping[str, str] = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}
"""The requests a tool may send to the calling client (MCP server-to-client requests), each with
the client capability that must be declared for it: an allow-list, nothing else is sent."""


class ClientRequestError(Exception):
    """A request to the calling client failed: the door cannot carry it (no stream, the
    2026-07-28 era, a method not in `CLIENT_REQUEST_CAPABILITY`), the client did not declare
    the capability, it answered an error, or it did not answer in time. `code` and `message`
    are JSON-RPC's (the client's own on an error answer)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


NO_CLIENT_REQUESTS = -32600
"""JSON-RPC 'invalid request': what the upstream gets when the client cannot be asked."""


class Channel(Protocol):
    """The door's side of one running call: where progress and log lines go, and what the client
    declared it can do. A door that has nowhere to send them passes none (`ToolCall.channel`)."""

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        """The capabilities the client declared (MCP `initialize` / `_meta`), `{}` if none."""
        ...

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """Report progress (MCP `notifications/progress`); non-increasing values are dropped."""
        ...

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        """Send a log line (MCP `notifications/message`, RFC 5424 level names) if the client
        asked for that level; dropped otherwise."""
        ...

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a request to the client (a method of `CLIENT_REQUEST_CAPABILITY`) and return
        its result; raises `ClientRequestError`. A door that cannot carry one raises at once."""
        ...


CatalogChanged = Callable[[], Awaitable[None]]
"""Called by an adapter whose operations changed: the gateway swaps the catalog and tells
connected clients (MCP `notifications/tools/list_changed`)."""


async def _unchanged() -> None:
    return None


@dataclass(slots=True)
class InvokeContext:
    """What an adapter gets besides the arguments: who asked, the credentials to inject, the
    door's channel (progress, logs, client capabilities), a cancellation signal, and the
    catalog-changed hook. Credentials are resolved by the core; an adapter never looks them up.

    `cancelled` is set when the call is abandoned (the client went away, or the timeout passed):
    work running outside the event loop (a thread) should check it and stop; async work is
    cancelled the ordinary way. It is made the first time someone asks for it.

    Treated as immutable (`dataclasses.replace` makes a changed copy); not frozen, since one is
    made per call and a frozen `__init__` costs three times as much (docs/design/
    hot-path-front.md)."""

    request_id: str
    principal: Principal
    credentials: Mapping[str, str] = field(default_factory=dict)
    channel: Channel | None = None
    catalog_changed: CatalogChanged = _unchanged
    trace_headers: Mapping[str, str] = field(default_factory=dict)
    """The call's W3C trace context (`traceparent`, `tracestate`) when tracing is on: an adapter
    sends these headers with its upstream requests (HTTP and, through the MCP client, federated
    MCP servers), so the upstream's spans join the call's trace. Empty when tracing is off."""
    _cancelled: asyncio.Event | None = field(default=None, repr=False, compare=False)

    @property
    def cancelled(self) -> asyncio.Event:
        """Set when the call is abandoned (see the class docstring)."""
        event = self._cancelled
        if event is None:
            event = self._cancelled = asyncio.Event()
        return event

    def with_channel(self, channel: Channel | None) -> InvokeContext:
        """This context with `channel`: `dataclasses.replace(self, channel=channel)`, built
        directly (a tool call of the MCP door makes one per call; `replace` walks the fields,
        three times the cost)."""
        return InvokeContext(
            self.request_id,
            self.principal,
            self.credentials,
            channel,
            self.catalog_changed,
            self.trace_headers,
            self._cancelled,
        )

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        return {} if self.channel is None else self.channel.client_capabilities

    async def progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        if self.channel is not None:
            await self.channel.progress(progress, total, message)

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        if self.channel is not None:
            await self.channel.log(level, data, logger)

    async def client_request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """`Channel.request`; `ClientRequestError` when the call came without a channel."""
        if self.channel is None:
            raise ClientRequestError(
                NO_CLIENT_REQUESTS, f"{method}: this call's client cannot be sent requests"
            )
        return await self.channel.request(method, params)


class Adapter(Protocol):
    """Reaches one kind of upstream. Never bills, never decides policy, never logs a secret.

    `invoke` returns plain JSON data or a `toolwire.core.content.ToolResult` (content blocks,
    structured content, an error flag). Raise `toolwire.core.errors.UpstreamError` (or a
    subclass) for upstream failures; any other exception is treated as a tool crash and reported
    as `UPSTREAM_ERROR` without its text. `aclose` releases pooled clients and connections (once,
    when the app stops or a reload drops the adapter); an adapter holding nothing does nothing.
    """

    async def invoke(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> Any: ...

    async def aclose(self) -> None: ...


SecretLookup = Callable[[str], Awaitable[str | None]]
"""A vault secret's value by name (None when unset): what an operation source that must connect
before any call (a federated MCP upstream's discovery session) uses for its platform credentials."""


class OperationSource(Protocol):
    """An upstream whose operations are discovered at run time (a federated MCP server), and may
    change while the gateway runs. The gateway's catalog is its static tools plus every source's
    current `operations()`; a source calls `changed` after its set changes (first discovery,
    `notifications/tools/list_changed`, a reconnect that found other tools), and the gateway
    rebuilds the catalog and tells connected clients.

    `start` begins connecting and returns once the first discovery finished or `wait_s` passed,
    whichever is first; it never raises for an unreachable upstream (the source keeps retrying in
    the background and serves nothing meanwhile). `aclose` ends every connection and process."""

    name: str

    @property
    def spec(self) -> object:
        """What the source was configured with (a frozen, comparable value): a reload keeps a
        running source whose `spec` equals the new config's and replaces the others."""
        ...

    def operations(self) -> Sequence[ToolSpec]:
        """The tools this source serves right now (empty before its first discovery)."""
        ...

    async def start(
        self, changed: CatalogChanged, secrets: SecretLookup, wait_s: float
    ) -> None: ...

    def status(self) -> Mapping[str, Any]:
        """JSON for `/readyz` and `toolwire upstreams list`: transport, state, tools, processes,
        last error, p50 latency (ms)."""
        ...

    async def aclose(self) -> None: ...


CredentialSource = Literal["platform", "byok"]
"""Whose credential a call runs with: the operator's vault, or the caller's own key (BYOK)."""


@dataclass(frozen=True, slots=True)
class ResolvedCredentials:
    """What the credential step hands the adapter, and whose credential it is (None: none
    needed)."""

    values: Mapping[str, str] = field(default_factory=dict)
    source: CredentialSource | None = None


class CredentialResolver(Protocol):
    """Turns an operation's credential references (slot -> secret name) into the platform's
    values the adapter injects (source ``platform``). The vault implements it. Raises
    `UpstreamError` when a referenced credential is not configured."""

    async def resolve(self, principal: Principal, operation: Operation) -> ResolvedCredentials: ...


class OwnKeys(Protocol):
    """An account's own provider credentials (BYOK), as stored: provider -> value. The core
    decides whether a call uses them (`Gateway.credentials_for`); the store only keeps them."""

    async def values(self, account_id: str) -> Mapping[str, str]: ...


class KeyStore(Protocol):
    """Turns a presented API key into a Principal, or None when it is unknown or revoked."""

    async def authenticate(self, raw_key: str) -> Principal | None: ...


class TokenVerifier(Protocol):
    """Turns a bearer token that is not an API key (an OAuth access token) into a Principal, or
    raises `Unauthenticated`. The token itself never leaves the verifier: the Principal does not
    carry it, so nothing downstream (adapters, upstreams) can forward it."""

    async def principal(self, token: str) -> Principal: ...


class Ledger(Protocol):
    """Credits in two phases: reserve before the upstream, then settle or release after.

    Every method returns once its write is durable (committed), so a call answered as charged
    stays charged whatever happens to the process afterwards. `reserve` raises
    `InsufficientCredits` rather than letting a balance go below zero. Every method returns the
    account balance after its effect.
    """

    async def reserve(
        self, principal: Principal, amount: int, *, request_id: str, tool: str, operation: str
    ) -> Reservation: ...

    async def settle(
        self, reservation: Reservation, charge: int, audit: AuditEvent | None = None
    ) -> int:
        """Charge `charge` (0..reserved) and give back the rest. `audit`, the call's audit
        record, is committed in the same transaction: a crash never leaves the charge without
        it. Raises when the settle could not be made durable (`audit` then was not written)."""
        ...

    async def release(self, reservation: Reservation, audit: AuditEvent | None = None) -> int:
        """Give the whole reservation back, committing `audit` with it as `settle` does."""
        ...

    async def balance(self, account_id: str) -> int: ...

    async def resolution(self, reservation: Reservation) -> int | None:
        """What the reservation's settle or release charged (micro-credits; 0 for a release),
        or None while it is open. What a caller reads when its settle raised: the settle may
        have committed all the same (the connection lost after the commit)."""
        ...


class IdempotencyStore(Protocol):
    """Remembers calls made with an `Idempotency-Key`, per API key, for a configurable window.

    `claim` returns None when this call may run (the key is new or expired), the first call's
    `Outcome` (meta.replayed set) when the same key came with the same tool and input, and raises
    `Conflict` when the key came with other input or its first call is still running; a key that
    is not a short printable string raises `InvalidRequest`. After a claim the call path ends with
    exactly one of `complete` (the upstream ran: keep the outcome) or `abandon` (it did not: a retry
    runs afresh)."""

    async def claim(
        self,
        principal: Principal,
        key: str,
        *,
        tool: str,
        arguments: Mapping[str, Any],
        request_id: str,
    ) -> Outcome | None: ...

    async def complete(
        self, principal: Principal, key: str, outcome: Outcome, reservation_id: str | None
    ) -> None: ...

    async def abandon(self, principal: Principal, key: str) -> None: ...


class AuditSink(Protocol):
    """Takes audit events without blocking the call; implementations batch the writes."""

    def record(self, event: AuditEvent) -> None:
        """Write `event` (later, batched)."""
        ...

    def recorded(self, event: AuditEvent) -> None:
        """`event` is already committed (with its call's settle, `Ledger.settle`): do not write
        it again; only what follows a record (metrics) happens."""
        ...


class CallSpan(Protocol):
    """One call's trace span, started by a `CallTracer` when the call arrives."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The W3C trace-context headers naming this span (`InvokeContext.trace_headers`)."""
        ...

    def finish(self, event: AuditEvent) -> None:
        """End the span with what the call's audit record says (tool, outcome, upstream)."""
        ...


class CallTracer(Protocol):
    """Starts a span per call (`toolwire.tracing` implements it over OpenTelemetry)."""

    def start(self, call: ToolCall) -> CallSpan: ...
