"""What the core needs from the outside world, as Protocols.

`toolwire.upstream` implements `Adapter`; `toolwire.store` implements `KeyStore`, `Ledger` and
`AuditSink`; `toolwire.app` wires them into the `Gateway`. The core never imports an implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from toolwire.core.model import AuditEvent, Principal, ProgressFn, Reservation

if TYPE_CHECKING:
    from toolwire.core.catalog import Operation


@dataclass(frozen=True, slots=True)
class InvokeContext:
    """What an adapter gets besides the arguments: who asked, the credentials to inject, and a
    way to report progress. Credentials are resolved by the core; an adapter never looks them up."""

    request_id: str
    principal: Principal
    credentials: Mapping[str, str] = field(default_factory=dict)
    on_progress: ProgressFn | None = None

    async def progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        if self.on_progress is not None:
            await self.on_progress(progress, total, message)


class Adapter(Protocol):
    """Reaches one kind of upstream. Never bills, never decides policy, never logs a secret.

    Raise `toolwire.core.errors.UpstreamError` (or a subclass) for upstream failures; any other
    exception is treated as a tool crash and reported as `UPSTREAM_ERROR` without its text.
    """

    async def invoke(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> Any: ...


class KeyStore(Protocol):
    """Turns a presented API key into a Principal, or None when it is unknown or revoked."""

    async def authenticate(self, raw_key: str) -> Principal | None: ...


class Ledger(Protocol):
    """Credits in two phases: reserve before the upstream, then settle or release after.

    `reserve` is the only write a call waits for. It raises `InsufficientCredits` rather than
    letting a balance go below zero. Every method returns the account balance after its effect.
    """

    async def reserve(
        self, principal: Principal, amount: int, *, request_id: str, tool: str, operation: str
    ) -> Reservation: ...

    async def settle(self, reservation: Reservation, charge: int) -> int: ...

    async def release(self, reservation: Reservation) -> int: ...

    async def balance(self, account_id: str) -> int: ...


class AuditSink(Protocol):
    """Takes audit events without blocking the call; implementations batch the writes."""

    def record(self, event: AuditEvent) -> None: ...
