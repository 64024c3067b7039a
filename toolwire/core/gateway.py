"""`Gateway.execute`: the one call path every door goes through, in the order it runs.

Each step is a method of `Gateway` named as below; `execute` calls them in this order.

     1 resolve      the tool and operation in the catalog          -> ToolNotFound
     2 authorize    the key's scopes and virtual servers -> ToolNotFound (Forbidden if explicit);
                    a pinned tool whose definition changed upstream -> ToolHeld (TOOL_NOT_FOUND)
     3 validate     depth and encodability, then the compiled schema -> InvalidArguments
     4 admit        the catalog's policy (destructive grant, argument constraints), then the
                    admission checks (rate limits, `core.ratelimits`)  -> PolicyDenied,
                                                                      RateLimited
     5 claim        the Idempotency-Key, if any: a replay returns  -> Conflict (other input,
                                                                      or still running)
     6 credentials  the caller's own key (BYOK) or the platform vault, chosen here
                                                                   -> UpstreamError (not configured)
     7 reserve      the price (the BYOK fee on the caller's own key); the key's budgets are
                    checked atomically with it                     -> InsufficientCredits / Budget
     8 invoke       before-invoke hooks, the adapter under the operation's timeout, after-invoke
                    hooks; a result every door can encode, cut to the policy's result cap
                                                                   -> UpstreamError, UpstreamTimeout
     9 keep         an idempotent call's outcome, before its charge (a crash then charges it once);
                    when it cannot be kept the call fails uncharged -> Internal, the key given up
    10 settle       charge on success (or always), else release    (in a finally: every path),
                    the call's audit event committed in the same transaction
    11 audit        one event per call: the one step 10 committed, or (nothing reserved, or the
                    settle failed) handed to a batching sink (the call's trace span, when
                    tracing is on, ends with it)
       Outcome      data or content or error, plus meta

Steps 1-7 fail before any upstream is touched and before any credit moves; a claimed key whose
call did not reach the upstream is given up, so a retry runs afresh. Once the tool has run, the
receipt, the ledger and the audit record agree whatever fails afterwards: the core checks the
result can be encoded (`toolwire.core.payload`) before it settles, so no door meets a result it
cannot write, and a claimed key always ends done or given up, never left running.

Credentials resolve before the reservation because their source decides the charge (a caller's
own key, BYOK, is not billed) and because a missing credential must fail before any credit moves.
The core makes that choice; the BYOK store only stores keys (`ports.OwnKeys`).
Cancellation (a client that went away) releases the reservation and propagates. Once the tool
has run, steps 9-11 run as one shielded unit (`_finish`): a cancellation arriving meanwhile cannot
leave a charge unaudited or a kept outcome unsettled. Step 10 returns once the charge is durable
(`Ledger.settle`), so an answer given as charged stays charged through a crash.

Draining (`stop_calls`, at the end of an instance's drain timeout): every call still in step 8
stops there and fails with `Unavailable` (`details.reason == "draining"`), released and audited
like any failed call, and every door answers it in its own form (REST 503 + `Retry-After`, MCP's
error, A2A's failed task); calls reaching step 8 afterwards fail the same way before the tool runs.

A call holds a lease on the catalog it started on (`toolwire.core.live.LiveCatalog`) from step 1
to its end: a reload (`swap_catalog`) serves the new catalog to calls that start afterwards, and
the old adapters close only when the last call holding them has finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from toolwire.core import payload
from toolwire.core.audit import arguments_digest
from toolwire.core.catalog import Catalog, Operation
from toolwire.core.content import TextBlock, ToolResult
from toolwire.core.context import bound
from toolwire.core.deadline import Deadline
from toolwire.core.errors import (
    CANCELLED_BY_CLIENT,
    Forbidden,
    Internal,
    NotFound,
    ToolNotFound,
    ToolwireError,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
    cancel_reason,
)
from toolwire.core.federated import Federation
from toolwire.core.hooks import InvokeHooks
from toolwire.core.live import Generation, LiveCatalog
from toolwire.core.model import (
    AuditEvent,
    Identity,
    Meta,
    Outcome,
    Principal,
    Reservation,
    ToolCall,
    new_call_id,
)
from toolwire.core.pause import PausingChannel
from toolwire.core.ports import (
    AuditSink,
    CallSpan,
    CallTracer,
    CredentialResolver,
    IdempotencyStore,
    InvokeContext,
    Ledger,
    OwnKeys,
    ResolvedCredentials,
)
from toolwire.core.servers import VirtualServer

log = logging.getLogger("toolwire.gateway")
NO_HOOKS = InvokeHooks()
EMPTY: Mapping[str, str] = MappingProxyType({})
"""An empty read-only mapping, shared: no trace headers, no credential values."""
NO_CREDENTIALS = ResolvedCredentials(EMPTY)
"""What a call whose operation needs no credential gets (one shared, read-only value)."""

CatalogListener = Callable[[], Awaitable[None]]
"""Told after the catalog changed (the MCP runtime sends `notifications/tools/list_changed`)."""


class Admission(Protocol):
    """One admission check (step 4): raises `RateLimited` (or another `ToolwireError`) to refuse
    the call before anything is claimed or spent; returns None to let it through. `arguments`
    are the validated ones."""

    async def admit(
        self, principal: Principal, operation: Operation, arguments: dict[str, Any]
    ) -> None: ...


class DeniedAsUnknown(ToolNotFound):
    """A tool the key's scopes deny, answered to the caller exactly as an unknown one (same
    code, message and details); only the audit record tells them apart."""


class ToolHeld(ToolNotFound):
    """A pinned upstream tool whose definition changed (or was never approved): not listed, and
    refused with TOOL_NOT_FOUND and `details.reason == "held_for_approval"` until an operator
    approves it (docs/design/pinning.md)."""


class PinGate(Protocol):
    """Whether an operation is held by pinning (`toolwire.core.pins.PinGuard`)."""

    def held(self, op: Operation) -> bool: ...


@dataclass(slots=True)
class _Run:
    """One call as it moves through the steps: what each step found, for the ones after it."""

    principal: Principal
    call: ToolCall
    started: float
    generation: Generation
    op: Operation | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    validated: bool = False
    claimed: bool = False
    creds: ResolvedCredentials = NO_CREDENTIALS
    reservation: Reservation | None = None
    invoked: bool = False
    result: ToolResult | None = None
    error: ToolwireError | None = None
    charged: int = 0
    balance: int | None = None
    capped: dict[str, Any] | None = None
    """What the policy's result cap cut, for the receipt (None: nothing)."""
    span: CallSpan | None = None
    settled_audit: AuditEvent | None = None
    """The call's audit event when the ledger committed it with the settle (step 10)."""
    own_id: str | None = None
    """The call's identity when it reserved nothing (made on first use, `call_id`)."""

    @property
    def call_id(self) -> str:
        """The call's identity in its audit record (`AuditEvent.call_id`): the reservation's id
        once credits were reserved (the ledger, and a recovery, write the record under it), else
        one made for this call. Every event the call builds carries the same one, so a record
        written twice (a settle whose commit was not confirmed, then the sink) is stored once."""
        if self.reservation is not None:
            return self.reservation.id
        if self.own_id is None:
            self.own_id = new_call_id()
        return self.own_id

    @property
    def op_(self) -> Operation:
        """The resolved operation (steps after 2 only)."""
        assert self.op is not None
        return self.op


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
        own_keys: OwnKeys | None = None,
        idempotency: IdempotencyStore | None = None,
        explicit_forbidden: bool = False,
        admission: Sequence[Admission] = (),
        hooks: InvokeHooks = NO_HOOKS,
        compose: Callable[[], Catalog] | None = None,
        tracer: CallTracer | None = None,
        digest_key: bytes = b"",
        pins: PinGate | None = None,
        servers: Mapping[str, VirtualServer] | None = None,
        catalog_version: str = "",
    ) -> None:
        self.live = LiveCatalog(catalog, catalog_version)
        self.compose = compose
        """Builds the catalog afresh from the static tools and the operation sources' current
        operations (`config.CatalogPlan.compose`); None: the catalog never changes shape."""
        self.ledger = ledger
        self.audit = audit
        self.default_timeout = default_timeout
        self.credentials = credentials
        self.own_keys = own_keys
        self.idempotency = idempotency
        self.explicit_forbidden = explicit_forbidden
        self.admission = tuple(admission)
        self.hooks = hooks
        self.tracer = tracer
        self.digest_key = digest_key
        """HMAC key of the audit records' argument digests (`toolwire.core.audit`)."""
        self.pins = pins
        self.servers: Mapping[str, VirtualServer] = dict(servers or {})
        self._listeners: list[CatalogListener] = []
        self.federation = Federation((), audit)
        """Resources and prompts of federated MCP servers (`core.federated`); none by default."""
        self._invoking: set[Deadline] = set()
        """The deadlines of the calls in step 8 now: `stop_calls` moves them to now."""
        self.stopping = False
        """Set by `stop_calls`: calls reaching step 8 fail with `Unavailable` (draining)."""

    # -- the catalog, and its changes ---------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The catalog calls starting now resolve in (`LiveCatalog.catalog`)."""
        return self.live.catalog

    @property
    def catalog_version(self) -> str:
        """The current catalog's version ("" when the process did not compute one)."""
        return self.live.version

    def on_catalog_changed(self, listener: CatalogListener) -> None:
        """Call `listener` after every catalog change (see `catalog_changed`)."""
        self._listeners.append(listener)

    async def swap_catalog(self, catalog: Catalog, version: str = "") -> None:
        """Serve `catalog` (at `version`) to every call that starts from now on, then tell the
        listeners. Calls already running finish on the catalog they started on; its adapters
        close when the last of them ends (`LiveCatalog.swap`)."""
        await self.live.swap(catalog, version)
        for listener in self._listeners:
            try:
                await listener()
            except Exception:
                log.exception("a catalog listener failed")

    async def catalog_changed(self) -> None:
        """The adapters' catalog-changed hook (`InvokeContext.catalog_changed`, and what an
        `OperationSource` calls when its tools change): rebuild the catalog with `compose`
        (or swap in the current one again, for a fresh view) and tell the listeners, so MCP
        clients list again. A compose that fails keeps the current catalog (logged)."""
        catalog = self.catalog
        if self.compose is not None:
            try:
                catalog = self.compose()
            except Exception:
                log.exception("rebuilding the catalog failed; the current one stays")
                return
        await self.swap_catalog(catalog, self.catalog_version)

    def visible(
        self,
        principal: Principal,
        q: str | None = None,
        category: str | None = None,
        server: str | None = None,
    ) -> list[Operation]:
        """The operations this principal may call, in catalog order, optionally searched and
        limited to one virtual server (`NotFound` for an unknown one): what a door may list. An
        agent never sees a tool it cannot call, nor a held one."""
        if server is not None:
            principal = self.within(principal, server)
        ops = self.catalog.search(q, category) if q or category else self.catalog
        return [op for op in ops if self.permits(principal, op) and not self.held(op)]

    def permits(self, principal: Principal, op: Operation) -> bool:
        """Whether the key's scopes and virtual-server limits allow `op`."""
        if not principal.scopes.permits(op.tool, op.name, op.category):
            return False
        if principal.servers is None:
            return True
        servers = self.servers
        return any(name in servers and servers[name].contains(op) for name in principal.servers)

    def held(self, op: Operation) -> bool:
        """Whether pinning holds `op` back (its upstream definition is not the approved one)."""
        return self.pins is not None and self.pins.held(op)

    def within(self, principal: Principal, server: str) -> Principal:
        """`principal` limited to the virtual server `server` (a door serving `/mcp/<server>`
        or `?server=`): its tools only, and none when the key is limited to other servers.
        Raises `NotFound` for a server the catalog does not declare."""
        if server not in self.servers:
            raise NotFound(
                f"no virtual server named {server!r}",
                details={"server": server, "servers": sorted(self.servers)},
            )
        allowed = principal.servers
        narrowed = frozenset({server}) if allowed is None or server in allowed else frozenset()
        return dataclasses.replace(principal, servers=narrowed)

    def describe(self, principal: Principal, tool: str, operation: str | None = None) -> Operation:
        """Steps 1-2 of the call path on their own: the operation, if this principal may call it.

        Raises `ToolNotFound` for a missing tool and, by default, for one the key's scopes deny:
        the very same error, built from the name as asked, so no door can tell the two apart (an
        agent never sees a tool it cannot call). With `explicit_forbidden` (the operator's
        `TOOLWIRE_EXPLICIT_FORBIDDEN`, for debugging) a denied tool raises `Forbidden` instead."""
        return self.authorize(principal, self.resolve(tool, operation), tool, operation)

    async def whoami(self, principal: Principal) -> Identity:
        """The caller as a door shows it: the principal and its account's balance."""
        balance = await self.ledger.balance(principal.account_id) if principal.account_id else 0
        return Identity(principal, balance)

    def stop_calls(self) -> int:
        """The drain deadline: every call in step 8 (its tool running) stops now and fails with
        `Unavailable` (`details.reason == "draining"`), its reservation released; so do calls
        reaching step 8 from now on. Returns how many were running. Idempotent."""
        self.stopping = True
        now = asyncio.get_running_loop().time()
        running = list(self._invoking)
        for deadline in running:
            if not deadline.expired():  # an expiring one is stopping already
                deadline.reschedule(now)
        if running:
            log.warning("drain deadline: stopped %d call(s) still running", len(running))
        return len(running)

    # -- the call path ------------------------------------------------------------------------

    async def execute(self, principal: Principal, call: ToolCall) -> Outcome:
        """Run `call` for `principal` through steps 1-11; never raises a `ToolwireError` (it is
        in the Outcome). Cancellation releases what was held, is audited, and propagates."""
        with bound(call.request_id):
            generation = self.live.acquire()  # the call runs on this catalog, whatever swaps
            try:
                return await self._execute(_Run(principal, call, time.perf_counter(), generation))
            finally:
                self.live.release(generation)

    async def _execute(self, run: _Run) -> Outcome:
        call = run.call
        if self.tracer is not None:
            run.span = self.tracer.start(call)
        try:
            replay = await self._before_invoke(run)
            if replay is not None:
                return await self._replayed(run, replay)
            run.invoked = True
            result = await self.invoke(run.op_, run.arguments, self._context(run))
            run.result, run.capped = run.generation.catalog.policy.cap(run.op_, result)
        except ToolwireError as exc:
            run.error = payload.renderable(exc)
        except Exception:
            log.exception("gateway failure", extra={"request_id": call.request_id})
            run.error = Internal()
        except BaseException as exc:  # cancelled (the client went away): release, propagate
            await asyncio.shield(self._abandon(run, cancel_reason(exc)))
            raise
        if run.claimed or run.reservation is not None:
            return await asyncio.shield(self._finish(run))
        return await self._finish(run)  # nothing to keep or settle: nothing to split

    async def _finish(self, run: _Run) -> Outcome:
        """Steps 9-11 as one unit, shielded by the caller when there is something to keep or
        settle: a cancellation cannot split them (a charge always audited, a kept outcome
        always settled)."""
        charge = self._charge(run)
        if run.claimed:
            charge = await self.keep(run, charge)
        await self.settle(run, charge)
        if run.balance is None and run.op is not None and run.error is None:
            run.balance = await self._balance(run.principal)
        self.audit_call(run)
        return self._outcome(run)

    async def _before_invoke(self, run: _Run) -> Outcome | None:
        """Steps 1-7; the stored outcome when the call is an idempotent replay."""
        call = run.call
        op = self.resolve(call.tool, call.operation, run.generation.catalog)
        run.op = self.authorize(run.principal, op, call.tool, call.operation)
        run.arguments = self.validate(run.op, call.arguments)
        run.validated = True
        await self.admit(run.principal, run.op, run.arguments)
        replay = await self.claim(run)
        if replay is not None:
            return replay
        run.creds = await self.credentials_for(run.principal, run.op)
        await self.reserve(run)
        return None

    def resolve(
        self, tool: str, operation: str | None, catalog: Catalog | None = None
    ) -> Operation:
        """Step 1: the operation the name points at in `catalog` (the one the call holds; by
        default the current one); `ToolNotFound`."""
        return (self.catalog if catalog is None else catalog).resolve(tool, operation)

    def authorize(
        self,
        principal: Principal,
        op: Operation,
        tool: str,
        operation: str | None,
    ) -> Operation:
        """Step 2: `op` if the key's scopes and virtual servers permit it; else `DeniedAsUnknown`
        (built from the name as asked, `tool` and `operation`, so it reads exactly as an unknown
        tool) or `Forbidden` (with `explicit_forbidden`). A permitted but held tool (pinning)
        raises `ToolHeld`, which says so."""
        if self.permits(principal, op):
            if self.held(op):
                label = tool if operation is None else f"{tool}.{operation}"
                raise ToolHeld(
                    f"tool {label!r} is held: its definition changed upstream and awaits an "
                    "operator's approval",
                    details={"tool": label, "reason": "held_for_approval"},
                )
            return op
        if self.explicit_forbidden:
            raise Forbidden(f"this key may not use {op.qualified!r}")
        unknown = self.catalog.not_found(tool, operation)
        raise DeniedAsUnknown(unknown.message, details=unknown.details)

    @staticmethod
    def validate(op: Operation, arguments: Any) -> dict[str, Any]:
        """Step 3: depth and encodability, then the compiled schema; `InvalidArguments`."""
        checked = dict(arguments)
        payload.check_arguments(checked)
        valid: dict[str, Any] = op.validate(checked)
        return valid

    async def admit(self, principal: Principal, op: Operation, arguments: dict[str, Any]) -> None:
        """Step 4: the catalog's policy (`PolicyDenied`), then each admission check in turn
        (rate limits: `RateLimited`). Budgets are checked in step 7, atomically with the
        reservation they cap."""
        self.catalog.policy.admit(principal, op, arguments)
        for check in self.admission:
            await check.admit(principal, op, arguments)

    async def claim(self, run: _Run) -> Outcome | None:
        """Step 5: claim the Idempotency-Key; the first call's outcome on a replay."""
        call = run.call
        if call.idempotency_key is None or self.idempotency is None:
            return None
        replay = await self.idempotency.claim(
            run.principal,
            call.idempotency_key,
            tool=run.op_.qualified,
            arguments=run.arguments,
            request_id=call.request_id,
        )
        run.claimed = replay is None
        return replay

    async def credentials_for(self, principal: Principal, op: Operation) -> ResolvedCredentials:
        """Step 6: the values for the operation's credential references, and whose they are.

        The caller's own keys (BYOK) when the account holds one for every provider the
        operation references (source ``byok``); else the platform vault (source ``platform``).
        Nothing when the operation declares none. Raises `UpstreamError`
        (`details.reason == "credential_missing"`) when neither has them."""
        if not op.credentials:
            return NO_CREDENTIALS
        own = await self.own_keys.values(principal.account_id) if self.own_keys else {}
        if own and all(name in own for name in op.credentials.values()):
            return ResolvedCredentials(
                {slot: own[name] for slot, name in op.credentials.items()}, "byok"
            )
        if self.credentials is None:
            raise UpstreamError(
                f"{op.qualified} needs a credential: none is configured for the platform "
                "and this account has not set its own",
                details={"reason": "credential_missing"},
            )
        return await self.credentials.resolve(principal, op)

    async def reserve(self, run: _Run) -> None:
        """Step 7: hold the price (the BYOK fee on the caller's own key); nothing when free."""
        op = run.op_
        price = op.byok_fee if run.creds.source == "byok" else op.price
        if not price:
            return
        run.reservation = await self.ledger.reserve(
            run.principal, price, request_id=run.call.request_id, tool=op.tool, operation=op.name
        )
        run.balance = run.reservation.balance_after

    def _context(self, run: _Run) -> InvokeContext:
        return InvokeContext(
            run.call.request_id,
            run.principal,
            run.creds.values,
            channel=run.call.channel,
            catalog_changed=self.catalog_changed,
            trace_headers=EMPTY if run.span is None else run.span.headers,
        )

    async def invoke(
        self, op: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> ToolResult:
        """Step 8: the before-invoke hooks, the adapter under the operation's timeout, the
        after-invoke hooks. Returns the result as a `ToolResult` every door can encode; raises
        `UpstreamTimeout`, or `UpstreamError` for a crash, an unencodable result or a result
        the tool flagged as an error (`details.reason == "tool_error"`)."""
        timeout = op.timeout or self.default_timeout
        if self.stopping:
            raise draining()
        try:
            async with Deadline.after(timeout) as deadline:
                self._invoking.add(deadline)
                if ctx.channel is not None:  # asking the client stops the tool's clock
                    channel = PausingChannel(ctx.channel, deadline, lambda: self.stopping)
                    ctx = ctx.with_channel(channel)
                hooks = self.hooks
                try:
                    if hooks.before:
                        arguments = await hooks.run_before(op, arguments, ctx)
                    result = as_result(await op.adapter.invoke(op, arguments, ctx))
                    if hooks.after:
                        result = await hooks.run_after(op, arguments, ctx, result)
                finally:
                    self._invoking.discard(deadline)
        except TimeoutError:
            ctx.cancelled.set()
            if self.stopping:
                raise draining() from None
            raise UpstreamTimeout(
                f"{op.qualified} did not answer within {timeout:g}s", details={"timeout_s": timeout}
            ) from None
        except ToolwireError:
            raise
        except Exception:
            log.exception("tool %s crashed", op.qualified, extra={"request_id": ctx.request_id})
            raise UpstreamError(f"{op.qualified} failed") from None
        except BaseException:
            ctx.cancelled.set()
            raise
        payload.check_result(op.qualified, result.structured)
        payload.check_result(op.qualified, result.blocks_json())
        if result.is_error:
            raise tool_error(op, result)
        return result

    async def keep(self, run: _Run, charge: int) -> int:
        """Step 9: store an idempotent call's outcome (with the charge it is about to get) when
        the upstream ran; else give the key up. Returns the charge to settle: 0, with the call
        failed as `Internal`, when the outcome could not be stored (a retry runs afresh)."""
        kept = self._outcome(run, charge, self._balance_after(run, charge))
        if not await self._keep(run.principal, run.call, kept, run.invoked, run.reservation):
            run.result = None
            run.error = Internal("the call's outcome could not be recorded; it was not charged")
            return 0
        return charge

    async def settle(self, run: _Run, charge: int) -> None:
        """Step 10: charge `charge` or release the reservation (called on every path), with the
        call's audit event committed in the same transaction (`Ledger.settle(..., audit)`), so
        a crash cannot leave a charge without its record."""
        if run.reservation is None:
            return
        run.balance = self._balance_after(run, charge)
        outcome, message = self._verdict(run)
        event = self._event(run, outcome, charge, message)
        run.charged, run.balance, written = await self._settle(run.reservation, charge, event)
        if written:
            if run.charged != charge:  # what the ledger holds, for the metrics and the span
                event = dataclasses.replace(event, credits_charged=run.charged)
            run.settled_audit = event

    def audit_call(self, run: _Run) -> None:
        """Step 11: one audit event for the call: the one step 10 committed (the sink is told,
        for metrics, and does not write it again), else handed to the sink."""
        if run.settled_audit is not None:
            self._hand(run, run.settled_audit, written=True)
            return
        outcome, message = self._verdict(run)
        self._audit(run, outcome, run.charged, message)

    @staticmethod
    def _verdict(run: _Run) -> tuple[str, str | None]:
        """The audit record's outcome and message for the call as it stands."""
        error = run.error
        message = None if error is None else error.message
        if isinstance(error, DeniedAsUnknown):  # the audit may say what the caller may not see
            message = f"denied by the key's scopes ({message})"
        return ("OK" if error is None else error.code), message

    async def _abandon(self, run: _Run, reason: str = CANCELLED_BY_CLIENT) -> None:
        """A cancelled call: give the key up, release the reservation, audit it (with the
        reason its canceller gave, `task.cancel(msg)`; the record committed with the release
        when there was a reservation)."""
        if run.claimed:
            await self._forget(run.principal, run.call)
        if run.reservation is not None:
            event = self._event(run, "CANCELLED", 0, reason)
            if (await self._settle(run.reservation, 0, event))[2]:
                self._hand(run, event, written=True)
                return
        self._audit(run, "CANCELLED", 0, reason)

    @staticmethod
    def _balance_after(run: _Run, charge: int) -> int | None:
        if run.reservation is None:
            return run.balance
        return run.reservation.balance_after + run.reservation.amount - charge

    def _outcome(
        self, run: _Run, charged: int | None = None, balance: int | None = None
    ) -> Outcome:
        final = charged is None
        meta = self._meta(
            run.principal,
            run.call,
            run.op,
            run.charged if final else charged or 0,
            run.balance if final else balance,
            run.creds,
            run.started,
        )
        if run.error is not None or run.result is None:
            return Outcome(meta=meta, error=run.error)
        if run.capped is not None:
            meta = dataclasses.replace(meta, capped=run.capped)
        blocks = run.result.content or None
        return Outcome(meta=meta, data=run.result.structured, content=blocks)

    def _audit(
        self,
        run: _Run,
        outcome: str,
        charged: int,
        message: str | None,
        *,
        latency_ms: float | None = None,
        credential_source: str | None = None,
    ) -> None:
        """Hand the call's one audit event to the sink to write (and end its span)."""
        event = self._event(
            run,
            outcome,
            charged,
            message,
            latency_ms=latency_ms,
            credential_source=credential_source,
        )
        self._hand(run, event, written=False)

    def _hand(self, run: _Run, event: AuditEvent, *, written: bool) -> None:
        """Give the sink the call's one event: to write, or (`written`) already committed with
        the settle, only to count; then end the call's span with it."""
        if written:
            self.audit.recorded(event)
        else:
            self.audit.record(event)
        if run.span is not None:
            run.span.finish(event)

    def _event(
        self,
        run: _Run,
        outcome: str,
        charged: int,
        message: str | None,
        *,
        latency_ms: float | None = None,
        credential_source: str | None = None,
    ) -> AuditEvent:
        """The call's audit event. The arguments are digested once they were validated (step
        3); kept (the sink redacts them) only when the operation asks for it."""
        call, op, principal = run.call, run.op, run.principal
        validated = run.validated and op is not None
        event = AuditEvent(
            request_id=call.request_id,
            at=time.time(),
            account_id=principal.account_id,
            key_id=principal.key_id,
            tool=op.tool if op is not None else call.tool,
            operation=op.name if op is not None else call.operation,
            door=call.door,
            outcome=outcome,
            credits_charged=charged,
            latency_ms=(
                (time.perf_counter() - run.started) * 1000.0 if latency_ms is None else latency_ms
            ),
            credential_source=credential_source or run.creds.source,
            message=message,
            upstream=None if op is None else op.upstream,
            arguments_digest=(
                arguments_digest(run.arguments, self.digest_key) if validated else None
            ),
            arguments=run.arguments
            if validated and op is not None and op.audit_arguments
            else None,
            call_id=run.call_id,
        )
        return event

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

    async def _replayed(self, run: _Run, replay: Outcome) -> Outcome:
        """The first call's outcome, again: audited as a replay, charged nothing. Its receipt is
        the first call's (request id, charge) with the account's balance as it is now, since the
        stored outcome was kept before the first call settled."""
        self._audit(
            run,
            "REPLAYED",
            0,
            f"replay of {replay.meta.request_id}",
            latency_ms=0.0,
            credential_source=replay.meta.credential_source,
        )
        if replay.meta.balance is not None:
            return replay
        balance = await self._balance(run.principal)
        return dataclasses.replace(replay, meta=dataclasses.replace(replay.meta, balance=balance))

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

    @staticmethod
    def _charge(run: _Run) -> int:
        """What the call costs: the reservation on success (or always, if the tool says so)."""
        if run.reservation is None or isinstance(run.error, Unavailable):
            return 0  # Unavailable: stopped by a drain (or the gateway could not decide)
        if run.error is None or (run.op is not None and run.op.charge_policy == "always"):
            return run.reservation.amount
        return 0

    async def _settle(
        self, reservation: Reservation, charge: int, event: AuditEvent
    ) -> tuple[int, int, bool]:
        """Charge `charge` or release, committing `event` with it; returns (charged, balance,
        whether the call's record was written with a resolution). When the settle raises, what
        the ledger holds decides: a resolution committed after all, or none (charged 0, the
        record left to the sink). Runs shielded: a cancelled call still resolves its
        reservation, and is never charged (no result was given)."""
        try:
            if charge:
                return charge, await self.ledger.settle(reservation, charge, event), True
            return 0, await self.ledger.release(reservation, event), True
        except Exception:
            log.exception("could not settle reservation %s", reservation.id)
        # The settle may have committed all the same (the connection lost after the commit,
        # before its answer): then the receipt says what the ledger charged, and the record
        # committed with that resolution (or a recovery's, if one came first) is the call's.
        charged = await self._resolution(reservation)
        if charged is not None:
            return charged, reservation.balance_after + reservation.amount - charged, True
        # Open (or unknown: the ledger cannot be read either). It stays open; the ledger's
        # reconciler releases it later and makes the record's charge its own. The call's own
        # outcome stands: a bookkeeping failure must not turn a result into an error; its
        # audit record goes to the sink, charged nothing. Keyed by the call's id (the
        # reservation's), it is stored once even if the settle did commit.
        return 0, reservation.balance_after, False

    async def _resolution(self, reservation: Reservation) -> int | None:
        """What the ledger holds for `reservation` after a failed settle; None when it is open
        or cannot be read."""
        try:
            return await self.ledger.resolution(reservation)
        except Exception:
            log.warning("could not read reservation %s after its settle failed", reservation.id)
            return None


def draining() -> Unavailable:
    """The error of a call stopped by the drain deadline (`Gateway.stop_calls`)."""
    return Unavailable(
        "this gateway instance is shutting down and stopped the call before it finished; it "
        "was not charged: retry it",
        details={"reason": "draining", "retry_after_s": 1},
    )


def as_result(value: Any) -> ToolResult:
    """An adapter's return value as a `ToolResult`: plain JSON data is structured content."""
    return value if isinstance(value, ToolResult) else ToolResult(structured=value)


def tool_error(op: Operation, result: ToolResult) -> UpstreamError:
    """The `UpstreamError` for a result the tool flagged `is_error` (MCP `isError`): its text
    blocks are the message, all its blocks are in `details.content`."""
    texts = [b.text for b in result.content if isinstance(b, TextBlock)]
    return UpstreamError(
        " ".join(texts) or f"{op.qualified} reported an error",
        details={"reason": "tool_error", "content": result.blocks_json()},
    )
