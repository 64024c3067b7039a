"""`Gateway.execute`: the one call path every door goes through, in the order it runs.

    1 resolve     the tool and operation in the catalog          -> ToolNotFound
    2 authorize   the key's scopes                               -> Forbidden
    3 validate    the arguments against the compiled schema      -> InvalidArguments
    4 reserve     the operation's price                          -> InsufficientCredits
    5 invoke      the adapter, under the operation's timeout     -> UpstreamError / UpstreamTimeout
    6 settle      charge on success (or always), else release    (on every path, cancellation too)
    7 audit       one event per call, handed to a batching sink
    8 Outcome     data or error, plus meta

Steps 1-4 fail before any upstream is touched and before any credit moves. Cancellation (a client
that went away) releases the reservation and propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from toolwire.core.catalog import Catalog, Operation
from toolwire.core.errors import (
    Forbidden,
    Internal,
    ToolwireError,
    UpstreamError,
    UpstreamTimeout,
)
from toolwire.core.model import AuditEvent, Meta, Outcome, Principal, Reservation, ToolCall
from toolwire.core.ports import AuditSink, InvokeContext, Ledger

log = logging.getLogger("toolwire.gateway")


class Gateway:
    """Holds the current catalog and the services the call path needs; stateless per call."""

    def __init__(
        self,
        catalog: Catalog,
        ledger: Ledger,
        audit: AuditSink,
        *,
        default_timeout: float = 30.0,
    ) -> None:
        self.catalog = catalog
        self.ledger = ledger
        self.audit = audit
        self.default_timeout = default_timeout

    def swap_catalog(self, catalog: Catalog) -> None:
        """Replace the catalog atomically; calls already resolved finish on the old one."""
        self.catalog = catalog

    def visible(self, principal: Principal) -> list[Operation]:
        """The operations this principal may call, in catalog order: what a door may list."""
        return [
            op for op in self.catalog if principal.scopes.permits(op.tool, op.name, op.category)
        ]

    async def execute(self, principal: Principal, call: ToolCall) -> Outcome:
        started = time.perf_counter()
        op: Operation | None = None
        reservation: Reservation | None = None
        charged = 0
        balance: int | None = None
        data: Any = None
        error: ToolwireError | None = None
        try:
            op = self.catalog.resolve(call.tool, call.operation)
            if not principal.scopes.permits(op.tool, op.name, op.category):
                raise Forbidden(f"this key may not use {op.qualified!r}")
            arguments = op.validate(dict(call.arguments))
            if op.price:
                reservation = await self.ledger.reserve(
                    principal, op.price, request_id=call.request_id, tool=op.tool, operation=op.name
                )
                balance = reservation.balance_after
            ctx = InvokeContext(call.request_id, principal, on_progress=call.on_progress)
            data = await self._invoke(op, arguments, ctx)
        except ToolwireError as exc:
            error = exc
        except Exception:
            log.exception("gateway failure", extra={"request_id": call.request_id})
            error = Internal()
        except BaseException:  # cancelled (the client went away): release, then propagate
            if reservation is not None:
                await asyncio.shield(self._settle(op, reservation, error, cancelled=True))
            raise
        if reservation is not None:
            charged, balance = await asyncio.shield(self._settle(op, reservation, error))
        if balance is None and op is not None and error is None:
            balance = await self.ledger.balance(principal.account_id)
        meta = Meta(
            request_id=call.request_id,
            tool=op.qualified if op is not None else None,
            credits_charged=charged,
            balance=balance,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
        self.audit.record(
            AuditEvent(
                request_id=call.request_id,
                at=time.time(),
                account_id=principal.account_id,
                key_id=principal.key_id,
                tool=op.tool if op is not None else call.tool,
                operation=op.name if op is not None else call.operation,
                door=call.door,
                outcome="OK" if error is None else error.code,
                credits_charged=charged,
                latency_ms=meta.latency_ms,
                message=None if error is None else error.message,
            )
        )
        return Outcome(meta=meta, data=data, error=error)

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

    async def _settle(
        self,
        op: Operation | None,
        reservation: Reservation,
        error: ToolwireError | None,
        *,
        cancelled: bool = False,
    ) -> tuple[int, int]:
        """Charge or release; returns (charged, balance). Runs shielded: a cancelled call still
        resolves its reservation, and a cancelled call is never charged (no result was given)."""
        charge = not cancelled and (
            error is None or (op is not None and op.charge_policy == "always")
        )
        try:
            if charge:
                return reservation.amount, await self.ledger.settle(reservation, reservation.amount)
            return 0, await self.ledger.release(reservation)
        except Exception:
            # The reservation stays open; the ledger's reconciler releases it later. The call's
            # own outcome stands: a bookkeeping failure must not turn a result into an error.
            log.exception("could not settle reservation %s", reservation.id)
            return 0, reservation.balance_after
