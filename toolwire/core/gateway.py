"""`Gateway.execute`: the one call path every door goes through, in the order it runs.

    1 resolve     the tool and operation in the catalog          -> ToolNotFound
    2 authorize   the key's scopes                   -> ToolNotFound (Forbidden if explicit)
    3 validate    depth and encodability, then the compiled schema -> InvalidArguments
    3b claim      the Idempotency-Key, if any: a replay returns  -> Conflict (other input, running)
    4 credentials the operation's credential references -> values -> UpstreamError (not configured)
    5 reserve     the price (the BYOK fee on the caller's own key) -> InsufficientCredits / Budget
    6 invoke      the adapter, under the operation's timeout     -> UpstreamError / UpstreamTimeout
                  and a result every door can encode              -> UpstreamError
    7 keep        an idempotent call's outcome, before its charge (a crash then charges it once);
                  when it cannot be kept the call fails uncharged -> Internal, the key given up
    8 settle      charge on success (or always), else release    (on every path, cancellation too)
    9 audit       one event per call, handed to a batching sink
   10 Outcome     data or error, plus meta

Steps 1-5 fail before any upstream is touched and before any credit moves; a claimed key whose
call did not reach the upstream is given up, so a retry runs afresh. Once the tool has run, the
receipt, the ledger and the audit record agree whatever fails afterwards: the core checks the
result can be encoded (`toolwire.core.payload`) before it settles, so no door meets a result it
cannot write, and a claimed key always ends done or given up, never left running.

Credentials resolve before the reservation because their source decides the charge (a caller's
own key, BYOK, is not billed) and because a missing credential must fail before any credit moves.
Cancellation (a client that went away) releases the reservation and propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from toolwire.core import payload
from toolwire.core.catalog import Catalog, Operation
from toolwire.core.errors import (
    Forbidden,
    Internal,
    ToolNotFound,
    ToolwireError,
    UpstreamError,
    UpstreamTimeout,
)
from toolwire.core.model import AuditEvent, Meta, Outcome, Principal, Reservation, ToolCall
from toolwire.core.ports import (
    AuditSink,
    CredentialResolver,
    IdempotencyStore,
    InvokeContext,
    Ledger,
    ResolvedCredentials,
)

log = logging.getLogger("toolwire.gateway")


class DeniedAsUnknown(ToolNotFound):
    """A tool the key's scopes deny, answered to the caller exactly as an unknown one (same
    code, message and details); only the audit record tells them apart."""


class Gateway:
    """Holds the current catalog and the services the call path needs; stateless per call."""

    def __init__(
        self,
        catalog: Catalog,
        ledger: Ledger,
        audit: AuditSink,
        *,
        default_timeout: float = 30.0,
        credentials: CredentialResolver | None = None,
        idempotency: IdempotencyStore | None = None,
        explicit_forbidden: bool = False,
    ) -> None:
        self.catalog = catalog
        self.ledger = ledger
        self.audit = audit
        self.default_timeout = default_timeout
        self.credentials = credentials
        self.idempotency = idempotency
        self.explicit_forbidden = explicit_forbidden

    def swap_catalog(self, catalog: Catalog) -> None:
        """Replace the catalog atomically; calls already resolved finish on the old one."""
        self.catalog = catalog

    def visible(
        self, principal: Principal, q: str | None = None, category: str | None = None
    ) -> list[Operation]:
        """The operations this principal may call, in catalog order, optionally searched: what a
        door may list. An agent never sees a tool it cannot call."""
        ops = self.catalog.search(q, category) if q or category else self.catalog
        return [op for op in ops if principal.scopes.permits(op.tool, op.name, op.category)]

    def describe(self, principal: Principal, tool: str, operation: str | None = None) -> Operation:
        """Steps 1-2 of the call path on their own: the operation, if this principal may call it.

        Raises `ToolNotFound` for a missing tool and, by default, for one the key's scopes deny:
        the very same error, built from the name as asked, so no door can tell the two apart (an
        agent never sees a tool it cannot call). With `explicit_forbidden` (the operator's
        `TOOLWIRE_EXPLICIT_FORBIDDEN`, for debugging) a denied tool raises `Forbidden` instead."""
        op = self.catalog.resolve(tool, operation)
        if not principal.scopes.permits(op.tool, op.name, op.category):
            if self.explicit_forbidden:
                raise Forbidden(f"this key may not use {op.qualified!r}")
            unknown = self.catalog.not_found(tool, operation)
            raise DeniedAsUnknown(unknown.message, details=unknown.details)
        return op

    async def execute(self, principal: Principal, call: ToolCall) -> Outcome:
        started = time.perf_counter()
        op: Operation | None = None
        reservation: Reservation | None = None
        charged = 0
        balance: int | None = None
        data: Any = None
        error: ToolwireError | None = None
        creds = ResolvedCredentials()
        claimed = invoked = False
        try:
            op = self.describe(principal, call.tool, call.operation)
            arguments = dict(call.arguments)
            payload.check_arguments(arguments)
            arguments = op.validate(arguments)
            if call.idempotency_key is not None and self.idempotency is not None:
                replay = await self.idempotency.claim(
                    principal,
                    call.idempotency_key,
                    tool=op.qualified,
                    arguments=arguments,
                    request_id=call.request_id,
                )
                if replay is not None:
                    return self._replayed(principal, call, op, replay)
                claimed = True
            creds = await self._credentials(principal, op)
            price = op.byok_fee if creds.source == "byok" else op.price
            if price:
                reservation = await self.ledger.reserve(
                    principal, price, request_id=call.request_id, tool=op.tool, operation=op.name
                )
                balance = reservation.balance_after
            ctx = InvokeContext(
                call.request_id, principal, creds.values, on_progress=call.on_progress
            )
            invoked = True
            result = await self._invoke(op, arguments, ctx)
            payload.check_result(op.qualified, result)
            data = result
        except ToolwireError as exc:
            error = payload.renderable(exc)
        except Exception:
            log.exception("gateway failure", extra={"request_id": call.request_id})
            error = Internal()
        except BaseException:  # cancelled (the client went away): release, then propagate
            if claimed:
                await asyncio.shield(self._forget(principal, call))
            if reservation is not None:
                await asyncio.shield(self._settle(reservation, 0))
            self._audit(principal, call, op, "CANCELLED", 0, started, creds, "cancelled by client")
            raise
        charge = self._charge(op, reservation, error)
        if reservation is not None:
            balance = reservation.balance_after + reservation.amount - charge
        if claimed:
            kept = Outcome(
                self._meta(principal, call, op, charge, balance, creds, started), data, error
            )
            if not await asyncio.shield(self._keep(principal, call, kept, invoked, reservation)):
                data, charge = None, 0
                error = Internal("the call's outcome could not be recorded; it was not charged")
        if reservation is not None:
            charged, balance = await asyncio.shield(self._settle(reservation, charge))
        if balance is None and op is not None and error is None:
            balance = await self._balance(principal)
        meta = self._meta(principal, call, op, charged, balance, creds, started)
        outcome = "OK" if error is None else error.code
        message = None if error is None else error.message
        if isinstance(error, DeniedAsUnknown):  # the audit may say what the caller may not see
            message = f"denied by the key's scopes ({message})"
        self._audit(principal, call, op, outcome, charged, started, creds, message)
        return Outcome(meta=meta, data=data, error=error)

    def _audit(
        self,
        principal: Principal,
        call: ToolCall,
        op: Operation | None,
        outcome: str,
        charged: int,
        started: float,
        creds: ResolvedCredentials,
        message: str | None,
    ) -> None:
        self.audit.record(
            AuditEvent(
                request_id=call.request_id,
                at=time.time(),
                account_id=principal.account_id,
                key_id=principal.key_id,
                tool=op.tool if op is not None else call.tool,
                operation=op.name if op is not None else call.operation,
                door=call.door,
                outcome=outcome,
                credits_charged=charged,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                credential_source=creds.source,
                message=message,
            )
        )

    @staticmethod
    def _meta(
        principal: Principal,
        call: ToolCall,
        op: Operation | None,
        charged: int,
        balance: int | None,
        creds: ResolvedCredentials,
        started: float,
    ) -> Meta:
        low = principal.low_balance
        return Meta(
            request_id=call.request_id,
            tool=op.qualified if op is not None else None,
            credits_charged=charged,
            balance=balance,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            credential_source=creds.source,
            low_balance=None if low is None or balance is None else balance <= low,
        )

    def _replayed(
        self, principal: Principal, call: ToolCall, op: Operation, replay: Outcome
    ) -> Outcome:
        """The first call's outcome, again: audited as a replay, charged nothing."""
        self.audit.record(
            AuditEvent(
                request_id=call.request_id,
                at=time.time(),
                account_id=principal.account_id,
                key_id=principal.key_id,
                tool=op.tool,
                operation=op.name,
                door=call.door,
                outcome="REPLAYED",
                credits_charged=0,
                latency_ms=0.0,
                credential_source=replay.meta.credential_source,
                message=f"replay of {replay.meta.request_id}",
            )
        )
        return replay

    async def _keep(
        self,
        principal: Principal,
        call: ToolCall,
        outcome: Outcome,
        invoked: bool,
        reservation: Reservation | None,
    ) -> bool:
        """Store an idempotent call's outcome when the upstream ran; else give the key up.

        False when the outcome could not be stored: the key is then given up (never left
        running) and the caller fails the call uncharged, so a retry runs afresh."""
        assert self.idempotency is not None and call.idempotency_key is not None
        if not invoked:
            await self._forget(principal, call)
            return True
        reservation_id = None if reservation is None else reservation.id
        try:
            await self.idempotency.complete(
                principal, call.idempotency_key, outcome, reservation_id
            )
        except Exception:
            log.exception("could not record idempotency key", extra={"request_id": call.request_id})
            await self._forget(principal, call)
            return False
        return True

    async def _balance(self, principal: Principal) -> int | None:
        """The account's balance for the receipt; None when it cannot be read (the call stands)."""
        try:
            return await self.ledger.balance(principal.account_id)
        except Exception:
            log.exception("could not read the balance of %s", principal.account_id)
            return None

    async def _forget(self, principal: Principal, call: ToolCall) -> None:
        assert self.idempotency is not None and call.idempotency_key is not None
        try:
            await self.idempotency.abandon(principal, call.idempotency_key)
        except Exception:
            log.exception(
                "could not give up idempotency key", extra={"request_id": call.request_id}
            )

    async def _credentials(self, principal: Principal, op: Operation) -> ResolvedCredentials:
        """The values for the operation's credential references; nothing when it declares none."""
        if not op.credentials:
            return ResolvedCredentials()
        if self.credentials is None:
            raise UpstreamError(
                f"{op.qualified} needs credentials and no vault is configured",
                details={"reason": "credential_missing"},
            )
        return await self.credentials.resolve(principal, op)

    async def _invoke(self, op: Operation, arguments: dict[str, Any], ctx: InvokeContext) -> Any:
        timeout = op.timeout or self.default_timeout
        try:
            async with asyncio.timeout(timeout):
                return await op.adapter.invoke(op, arguments, ctx)
        except TimeoutError:
            raise UpstreamTimeout(
                f"{op.qualified} did not answer within {timeout:g}s", details={"timeout_s": timeout}
            ) from None
        except ToolwireError:
            raise
        except Exception:
            log.exception("tool %s crashed", op.qualified, extra={"request_id": ctx.request_id})
            raise UpstreamError(f"{op.qualified} failed") from None

    @staticmethod
    def _charge(
        op: Operation | None, reservation: Reservation | None, error: ToolwireError | None
    ) -> int:
        """What the call costs: the reservation on success (or always, if the tool says so)."""
        if reservation is None:
            return 0
        if error is None or (op is not None and op.charge_policy == "always"):
            return reservation.amount
        return 0

    async def _settle(self, reservation: Reservation, charge: int) -> tuple[int, int]:
        """Charge `charge` or release; returns (charged, balance). Runs shielded: a cancelled
        call still resolves its reservation, and is never charged (no result was given)."""
        try:
            if charge:
                return charge, await self.ledger.settle(reservation, charge)
            return 0, await self.ledger.release(reservation)
        except Exception:
            # The reservation stays open; the ledger's reconciler releases it later. The call's
            # own outcome stands: a bookkeeping failure must not turn a result into an error.
            log.exception("could not settle reservation %s", reservation.id)
            return 0, reservation.balance_after
