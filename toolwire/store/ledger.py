"""The credit ledger with group commit: `SqlLedger` implements `toolwire.core.ports.Ledger`.

What it is: one background writer task per process that turns every reserve, settle and release
queued since its last commit into ONE transaction:

1. charge/release entries for resolved reservations, ``INSERT ... ON CONFLICT DO NOTHING`` on a
   unique partial index (one resolution per reservation id), so a reservation is never resolved
   twice, even by another process or by `reconcile()`;
2. per account, in sorted id order (no deadlocks between processes), one conditional
   ``UPDATE accounts SET balance = balance - :net WHERE id = :id AND balance >= :net RETURNING
   balance``, where `net` is the account's reservations in this batch minus the credits its
   resolutions give back. When it fails (not enough for all of them) the row is read ``FOR
   NO KEY UPDATE`` and the reservations that fit are picked in arrival order, then one UPDATE
   applies them: exactly the affordable ones succeed;
3. one executemany INSERT of the `reserve` entries; commit.

Every caller (`reserve`, `settle`, `release`) waits for its batch's commit: a call is answered
as charged only once its charge is durable, so a `kill -9` after the answer cannot release it
(docs/design/0003-billing-exactness.md, "The answer waits for the settle"). Idle, the writer
awaits an event (no polling); a lone operation is committed at once; under load the next batch
accumulates while one commits, so settles and reservations share commits. Resolutions nobody
waits for (a reservation whose caller went away while it committed) linger up to
`settle_delay` (20 ms) for a reservation to share their commit. The writer keeps one connection
of its own (no pool round trip per batch). A failed transaction is retried for its resolutions
(`SETTLE_ATTEMPTS`, safe: a resolution is written at most once) and fails its reservations, and
then any resolution still failing, with `Internal` (left to `reconcile()`); a dead writer fails
everything queued and is restarted on the next call, so nobody waits forever. A caller cancelled
while its batch commits gets its reservation released by the writer. The invariant
``accounts.balance == SUM(ledger_entries.amount)`` holds at every commit.

A settle or release may carry its call's audit event (`settle(..., audit)`): its row is
inserted in the same transaction as the resolution (on the one-statement PostgreSQL path too),
so a crash can never leave a charge without its record (docs/design/durable-audit.md).

`reconcile()` releases reservations left unresolved by a process that died (older than
`stale_after`, default ten minutes: longer than any call may run). Each reserve entry names the
process that wrote it (`instance_id`), so `resolve_orphans(instance_id)` can resolve a process's
reservations as soon as that process is known dead (see `toolwire.billing.instances`), charging
those whose call is known to have completed and releasing the rest. Each such resolution
commits with its own audit record (door `recovery`, outcome `CHARGED` or `RELEASED`).

Keys with spend caps (`Principal.budget_hour`/`budget_day`) are checked in the same transaction,
before the balance step (see `toolwire.store.budgets`): a key over its cap gets `BudgetExceeded`.

What it is not: administration of credits (grants live in `toolwire.store.accounts`) nor pricing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, exists, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from toolwire.core import budgets as core_budgets
from toolwire.core.errors import InsufficientCredits, Internal, NotFound
from toolwire.core.ids import time_prefix
from toolwire.core.model import AuditEvent, Principal, Reservation, micro_to_credits
from toolwire.store import budgets, ledger_pg, ledger_sqlite
from toolwire.store._common import is_positive_int, upsert_insert, utcnow
from toolwire.store.audit_sink import audit_insert, audit_row
from toolwire.store.balance_cache import BalanceCache
from toolwire.store.db import is_sqlite, sync_sqlite_engine
from toolwire.store.keys import random_id
from toolwire.store.ledger_sql import (
    APPLY_UNCONDITIONAL,
    AlchemyStatements,
    BatchStatements,
    SqliteStatements,
    resolution_insert,
)
from toolwire.store.tables import (
    AUDIT_CALL_PREDICATE,
    RESOLVING_KINDS,
    audit_events,
    ledger_entries,
)

log = logging.getLogger("toolwire.store.ledger")

DEFAULT_STALE_AFTER = 600.0
MAX_BATCH = 2_000
SETTLE_ATTEMPTS = 3
SETTLE_DELAY = 0.02
"""How long settles nobody waits for may linger for a reservation to share their commit."""
GATHER_TURNS = 2
RECONCILE_PAGE = 500
RECOVERY_DOOR = "recovery"
"""The `door` of the audit record a recovery writes with the charge or release it makes."""
AuditRow = Callable[[AuditEvent], dict[str, Any]]


@dataclass(slots=True, eq=False)
class _Reserve:
    account_id: str
    key_id: str
    amount: int
    request_id: str
    tool: str
    operation: str
    reservation_id: str
    future: asyncio.Future[Reservation]
    caps: core_budgets.Caps = core_budgets.NO_CAPS


@dataclass(slots=True, eq=False)
class _Resolve:
    kind: Literal["charge", "release"]
    reservation: Reservation
    charge: int
    future: asyncio.Future[int] | None
    attempts: int = 0
    buckets: tuple[str, ...] = ()
    """(key_id, bucket, ...): the budget counters the reservation counted in, if any."""
    audit: AuditEvent | None = None
    """The call's audit record, committed in the same transaction as this resolution."""

    @property
    def credit(self) -> int:
        """What this resolution gives back to the balance."""
        return self.reservation.amount - self.charge


@dataclass(slots=True, eq=False)
class _Barrier:
    future: asyncio.Future[None]


_Op = _Reserve | _Resolve | _Barrier


@dataclass(slots=True)
class _Outcome:
    """What one committed batch decided, applied to the futures after the commit."""

    reserved: list[tuple[_Reserve, Reservation]] = field(default_factory=list)
    refused: list[tuple[_Reserve, Exception]] = field(default_factory=list)
    resolved: list[tuple[_Resolve, bool, int]] = field(default_factory=list)
    final: dict[str, int] = field(default_factory=dict)
    """Each touched account's balance after the batch: fed to the balance cache."""
    buckets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Budget counters each new budgeted reservation counted in, by reservation id."""


@dataclass(slots=True)
class LedgerStats:
    """Counters for metrics and informal benchmarks."""

    batches: int = 0
    ops: int = 0
    failed_batches: int = 0
    largest_batch: int = 0
    single_statement: int = 0
    """Batches committed as one statement (PostgreSQL, `toolwire.store.ledger_pg`)."""


class SqlLedger:
    """`Ledger` over `accounts` and `ledger_entries`, writing through one group-commit task."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        stale_after: float = DEFAULT_STALE_AFTER,
        max_batch: int = MAX_BATCH,
        settle_delay: float = SETTLE_DELAY,
        instance_id: str | None = None,
        audit_row: AuditRow = audit_row,
    ) -> None:
        self._engine = engine
        self._audit_insert = audit_insert(engine)
        self.audit_row = audit_row
        """An audit event as its `audit_events` row (the audit sink's `row`, which redacts)."""
        self.instance_id = instance_id
        """Written on every reserve entry: which process holds the reservation."""
        self._budget_rows: dict[str, tuple[str, ...]] = {}
        self.stale_after = stale_after
        self._max_batch = max_batch
        self._settle_delay = settle_delay
        self._pending: list[_Op] = []
        self._waiting = 0  # ops in _pending whose caller awaits them
        self._inflight: list[_Op] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._failures = 0
        self._gather = True
        self._reconcile_watermark = 0
        self._resolution_stmt: Any = None
        self._conn: AsyncConnection | None = None
        self.stats = LedgerStats()
        self.balances = BalanceCache(engine)
        self._sqlite = (
            ledger_sqlite.SqliteWriter(sync_sqlite_engine(engine, connections=2))
            if is_sqlite(engine)
            else None
        )
        """SQLite: where each batch commits, on the loop or in the writer thread."""

    # lifecycle

    async def start(self) -> None:
        """Start the writer (the first call would start it too)."""
        if self._closed:
            raise RuntimeError("this ledger is closed")
        self._ensure_writer()

    async def close(self) -> None:
        """Commit everything queued, then stop the writer. Calls after this raise."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(Exception):  # a crash is logged by _writer_done
                await asyncio.shield(task)
        self._closed = True
        self._fail_all(self._pending, Internal("the ledger is closed"))
        self._pending = []
        self._waiting = 0
        await self._drop_connection()
        if self._sqlite is not None:
            await self._sqlite.close()

    async def flush(self) -> None:
        """Wait until everything queued before this call has been processed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._submit(_Barrier(future))
        await future

    # the Ledger port

    async def reserve(
        self, principal: Principal, amount: int, *, request_id: str, tool: str, operation: str
    ) -> Reservation:
        if not is_positive_int(amount):
            raise ValueError(
                f"a reservation is a positive integer of micro-credits, not {amount!r}"
            )
        future: asyncio.Future[Reservation] = self._loop().create_future()
        self._submit(
            _Reserve(
                principal.account_id,
                principal.key_id,
                amount,
                request_id,
                tool,
                operation,
                "res_" + time_prefix() + random_id(16),
                future,
                core_budgets.Caps(principal.budget_hour, principal.budget_day),
            )
        )
        return await future

    async def settle(
        self, reservation: Reservation, charge: int, audit: AuditEvent | None = None
    ) -> int:
        """Charge `charge` (at most the reserved amount) and give back the rest; returns once the
        charge is committed (with the next batch). `audit`, the call's audit record, is committed
        in the same transaction (its `credits_charged` is written as 0 when the reservation was
        already resolved). Returns the balance as known from the reservation plus what this
        settle gives back. Raises `Internal` when the batch failed `SETTLE_ATTEMPTS` times (the
        reservation stays open for `reconcile()`; `audit` was not written), `ValueError` for a
        charge outside 0..reserved.
        """
        if isinstance(charge, bool) or not isinstance(charge, int):
            raise ValueError("a charge is an integer of micro-credits")
        if not 0 <= charge <= reservation.amount:
            raise ValueError(f"charge {charge} outside 0..{reservation.amount}")
        future: asyncio.Future[int] = self._loop().create_future()
        self._submit(self._resolution("charge", reservation, charge, future, audit))
        await future
        return reservation.balance_after + reservation.amount - charge

    async def release(self, reservation: Reservation, audit: AuditEvent | None = None) -> int:
        """Give the whole reservation back; returns the balance after it (waits for the commit).
        `audit` is committed with it, as with `settle`."""
        future: asyncio.Future[int] = self._loop().create_future()
        self._submit(self._resolution("release", reservation, 0, future, audit))
        return await future

    def _resolution(
        self,
        kind: Literal["charge", "release"],
        reservation: Reservation,
        charge: int,
        future: asyncio.Future[int] | None,
        audit: AuditEvent | None = None,
    ) -> _Resolve:
        buckets = self._budget_rows.pop(reservation.id, ())
        return _Resolve(kind, reservation, charge, future, buckets=buckets, audit=audit)

    def _audit_rows(self, resolves: list[_Resolve]) -> list[dict[str, Any]]:
        """The audit rows this batch writes with its resolutions: one per reservation (a call),
        the first one carrying an event, under the reservation's id (`call_id`) and with the
        charge of the resolution the batch writes for it (the first one: see
        `_insert_resolutions`), never the event's own figure nor another call's. The caller
        zeroes the charge where that resolution was not inserted (a recovery, or an earlier
        attempt of this batch whose commit was not confirmed, resolved it first)."""
        charges: dict[str, int] = {}
        rows: dict[str, dict[str, Any]] = {}
        for op in resolves:
            rid = op.reservation.id
            charges.setdefault(rid, op.charge)
            if op.audit is not None and rid not in rows:
                row = self.audit_row(op.audit)
                row["call_id"] = rid
                row["credits_charged"] = charges[rid]
                rows[rid] = row
        return list(rows.values())

    async def balance(self, account_id: str) -> int:
        """The account's balance as this process last saw it commit, or read when that is older
        than `BALANCE_CACHE_SECONDS` (`store.balance_cache`): a receipt's balance, not an
        accounting read (the admin API reads `AccountStore.balance`, which is exact)."""
        return await self.balances.get(account_id)

    async def resolution(self, reservation: Reservation) -> int | None:
        """The charge of `reservation`'s charge or release entry (0 for a release), None while
        it has none (read from the database, whoever wrote it)."""
        query = select(ledger_entries.c.charged).where(
            ledger_entries.c.reservation_id == reservation.id,
            ledger_entries.c.kind.in_(RESOLVING_KINDS),
        )
        async with self._engine.connect() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else int(value)

    # recovery

    async def reconcile(self, stale_after: float | None = None) -> int:
        """Release every reservation older than `stale_after` seconds that has neither a charge
        nor a release; returns how many it released. Idempotent and safe beside running writers
        (in this process or others): a release is only written where none exists."""
        age = self.stale_after if stale_after is None else stale_after
        now = utcnow()
        cutoff = now - timedelta(seconds=age)
        r = ledger_entries.alias("r")
        s = ledger_entries.alias("s")
        resolved = exists().where(
            s.c.reservation_id == r.c.reservation_id, s.c.kind.in_(RESOLVING_KINDS)
        )
        start = self._reconcile_watermark
        released = 0
        failures = 0
        after = start
        while True:
            query = (
                select(
                    r.c.id,
                    r.c.account_id,
                    r.c.key_id,
                    r.c.amount,
                    r.c.reservation_id,
                    r.c.request_id,
                    r.c.tool,
                    r.c.operation,
                )
                .where(r.c.kind == "reserve", r.c.id > after, r.c.created_at < cutoff, ~resolved)
                .order_by(r.c.id)
                .limit(RECONCILE_PAGE)
            )
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            for row in rows:
                after = int(row.id)
                try:
                    if await self._resolve_stale(row, 0, "reconcile: stale reservation"):
                        released += 1
                        self.balances.forget(row.account_id)
                except Exception:
                    failures += 1
                    log.exception("could not release stale reservation %s", row.reservation_id)
            if len(rows) < RECONCILE_PAGE:
                break
        if failures == 0:
            # Everything at or below the watermark is resolved or was examined; leave a margin
            # of another `age` so entries committed late (or by skewed clocks) are seen again.
            horizon = cutoff - timedelta(seconds=age)
            async with self._engine.connect() as conn:
                top = (
                    await conn.execute(
                        select(func.max(ledger_entries.c.id)).where(
                            ledger_entries.c.id > start, ledger_entries.c.created_at < horizon
                        )
                    )
                ).scalar()
            if top is not None:
                self._reconcile_watermark = max(self._reconcile_watermark, int(top))
        log.debug("reconcile released %d stale reservation(s)", released)
        return released

    async def resolve_orphans(
        self,
        instance_id: str,
        completed: Callable[[list[str]], Awaitable[Mapping[str, int]]] | None = None,
    ) -> tuple[int, int]:
        """Resolve every open reservation written by `instance_id`, a process known to be dead:
        those `completed` reports (reservation id -> micro-credits to charge: the call finished
        and its outcome was kept) are charged, the others released. Returns (charged, released).
        Safe beside running writers and other reconcilers: a resolution is written at most once."""
        r = ledger_entries.alias("r")
        s = ledger_entries.alias("s")
        resolved = exists().where(
            s.c.reservation_id == r.c.reservation_id, s.c.kind.in_(RESOLVING_KINDS)
        )
        query = (
            select(r.c.id, r.c.account_id, r.c.key_id, r.c.amount, r.c.reservation_id,
                   r.c.request_id, r.c.tool, r.c.operation)
            .where(r.c.kind == "reserve", r.c.instance_id == instance_id, ~resolved)
            .order_by(r.c.id)
        )  # fmt: skip
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        charges: Mapping[str, int] = {}
        if rows and completed is not None:
            charges = await completed([row.reservation_id for row in rows])
        charged = released = 0
        for row in rows:
            charge = min(max(int(charges.get(row.reservation_id, 0)), 0), -int(row.amount))
            note = "reconcile: process died after the call" if charge else "reconcile: process died"
            if await self._resolve_stale(row, charge, note):
                self.balances.forget(row.account_id)
                if charge:
                    charged += 1
                else:
                    released += 1
        return charged, released

    async def _resolve_stale(self, row: Any, charge: int, note: str) -> bool:
        """Write one resolution for a reservation its process left open, and its audit record
        (door `recovery`, outcome `CHARGED` or `RELEASED`, `note` as the message) in the same
        transaction; False when it had one (nothing written)."""
        amount = -int(row.amount) - charge
        now = utcnow()
        async with self._engine.begin() as conn:
            inserted = (
                await conn.execute(
                    self._resolution_insert(),
                    [
                        {
                            "account_id": row.account_id,
                            "key_id": row.key_id,
                            "kind": "charge" if charge else "release",
                            "amount": amount,
                            "charged": charge,
                            "reservation_id": row.reservation_id,
                            "request_id": row.request_id,
                            "tool": row.tool,
                            "operation": row.operation,
                            "note": note,
                            "created_at": now,
                        }
                    ],
                )
            ).first()
            if inserted is None:
                return False
            await conn.execute(APPLY_UNCONDITIONAL, {"b_acc": row.account_id, "b_net": -amount})
            await conn.execute(self._recovery_insert(), [_recovery_audit(row, charge, note, now)])
        return True

    def _recovery_insert(self) -> Any:
        """The recovery's audit INSERT. The call may have a record already: one its gateway
        handed to the sink when its settle failed (nothing committed, so it says charged 0);
        a record the ledger committed with a resolution cannot exist here, since this
        recovery just inserted the reservation's only one. That record is kept as the call's
        one record, with the charge made here and the recovery's note added to its message."""
        stmt = upsert_insert(self._engine, audit_events)
        old = audit_events.c.message
        new = stmt.excluded.message
        return stmt.on_conflict_do_update(
            index_elements=[audit_events.c.call_id],
            index_where=text(AUDIT_CALL_PREDICATE),
            set_={
                "credits_charged": stmt.excluded.credits_charged,
                "message": case((old.is_(None), new), else_=old + "; " + new),
            },
        )

    # the writer

    def _submit(self, op: _Op) -> None:
        if self._closed:
            raise Internal("the ledger is closed")
        if self._task is None or self._task.done():
            if self._closing:
                raise Internal("the ledger is closed")
            self._ensure_writer()
        self._pending.append(op)
        if op.future is not None:
            self._waiting += 1
        self._wake.set()

    def _loop(self) -> asyncio.AbstractEventLoop:
        """The caller's loop: the writer's while it runs (a ledger serves the loop its writer
        runs on; `asyncio.get_running_loop` is a `getpid` system call in CPython 3.11, and a
        priced call makes two futures)."""
        task = self._task
        if task is None or task.done():
            return asyncio.get_running_loop()
        return task.get_loop()

    def _ensure_writer(self) -> None:
        if self._task is not None and not self._task.done():
            return
        if self._task is not None:
            log.error("the ledger writer had stopped; restarting it")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ledger-writer")
        self._task.add_done_callback(self._writer_done)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        # Whatever ended the writer, nobody may keep waiting on it.
        if not task.cancelled() and task.exception() is not None:
            log.error("the ledger writer crashed", exc_info=task.exception())
        stopped = Internal("the ledger writer stopped")
        self._fail_all(self._inflight, stopped)
        self._inflight = []
        if not self._closing:
            self._fail_all(self._pending, stopped)
            self._pending = []
            self._waiting = 0

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            if not self._waiting and not self._closing:
                await self._linger()
            # Let the calls already runnable on the loop queue their reservations first, so
            # they share this commit (group commit); costs a loop turn when nothing else runs,
            # so only when the last batch had company (a lone caller does not wait for any).
            if self._gather:
                for _ in range(GATHER_TURNS):
                    await asyncio.sleep(0)
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._waiting -= sum(1 for op in batch if op.future is not None)
            self._inflight = batch
            self._gather = len(batch) > 1 or len(self._pending) > 0
            await self._process(batch)
            self._inflight = []
            if self._failures and self._pending:
                await asyncio.sleep(min(0.05 * 2 ** (self._failures - 1), 2.0))

    async def _linger(self) -> None:
        """Only settles are queued and nobody waits for them: give a call that is about to
        reserve a moment to join them, so one commit serves both (at most `settle_delay`)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settle_delay):
                while not self._waiting and not self._closing:
                    self._wake.clear()
                    await self._wake.wait()

    async def _process(self, batch: list[_Op]) -> None:
        reserves: list[_Reserve] = []
        resolves: list[_Resolve] = []
        barriers: list[_Barrier] = []
        for op in batch:
            if isinstance(op, _Reserve):
                if not op.future.done():  # a caller that went away before its batch: skip it
                    reserves.append(op)
            elif isinstance(op, _Resolve):
                resolves.append(op)
            else:
                barriers.append(op)
        try:
            if reserves or resolves:
                try:
                    outcome = await self._write(reserves, resolves)
                except Exception as exc:
                    self._failures += 1
                    self.stats.failed_batches += 1
                    log.error(
                        "ledger batch of %d failed", len(reserves) + len(resolves), exc_info=True
                    )
                    self._fail_batch(reserves, resolves, exc)
                else:
                    self._failures = 0
                    self.stats.batches += 1
                    self.stats.ops += len(reserves) + len(resolves)
                    self.stats.largest_batch = max(
                        self.stats.largest_batch, len(reserves) + len(resolves)
                    )
                    self._deliver(outcome)
        finally:
            for barrier in barriers:
                if not barrier.future.done():
                    barrier.future.set_result(None)

    def _fail_batch(
        self, reserves: list[_Reserve], resolves: list[_Resolve], exc: Exception
    ) -> None:
        error = Internal("the ledger could not record this call")
        error.__cause__ = exc
        for reserve in reserves:
            if not reserve.future.done():
                reserve.future.set_exception(error)
        for resolve in resolves:
            if resolve.attempts + 1 < SETTLE_ATTEMPTS:  # safe: written at most once
                resolve.attempts += 1
                self._pending.append(resolve)
                if resolve.future is not None:
                    self._waiting += 1
            elif resolve.future is not None:
                if not resolve.future.done():
                    resolve.future.set_exception(error)
            else:
                log.error(
                    "settle of reservation %s dropped after %d attempts; reconcile will release it",
                    resolve.reservation.id,
                    SETTLE_ATTEMPTS,
                )

    def _deliver(self, outcome: _Outcome) -> None:
        for account_id, balance in outcome.final.items():
            self.balances.remember(account_id, balance)
        self._budget_rows.update(outcome.buckets)
        for op, reservation in outcome.reserved:
            if op.future.done():
                # The caller went away while its batch committed: give the credits back.
                self._pending.append(self._resolution("release", reservation, 0, None))
                self._wake.set()
            else:
                op.future.set_result(reservation)
        for op, error in outcome.refused:
            if not op.future.done():
                op.future.set_exception(error)
        for resolve, applied, balance in outcome.resolved:
            if not applied:
                log.warning(
                    "reservation %s was already resolved; %s ignored",
                    resolve.reservation.id,
                    "settle" if resolve.kind == "charge" else "release",
                )
            if resolve.future is not None and not resolve.future.done():
                resolve.future.set_result(balance)

    @staticmethod
    def _fail_all(ops: list[_Op], error: Exception) -> None:
        for op in ops:
            future = op.future
            if future is not None and not future.done():
                future.set_exception(error)

    def _resolution_insert(self) -> Any:
        if self._resolution_stmt is None:
            self._resolution_stmt = resolution_insert(self._engine)
        return self._resolution_stmt

    async def _connection(self) -> AsyncConnection:
        # The writer keeps one connection: no pool checkout and reset per batch.
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            await self._drop_connection()
            self._conn = await self._engine.connect()
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.debug("closing the ledger writer's connection failed", exc_info=True)

    async def _write(self, reserves: list[_Reserve], resolves: list[_Resolve]) -> _Outcome:
        """Run one batch as one transaction. On SQLite the whole batch runs on a plain sqlite3
        connection, in the writer's own thread (one hop per batch), or on the loop itself when
        it is a lone operation (`toolwire.store.ledger_sqlite`). On PostgreSQL a batch without
        budgets runs as one statement, one round trip, on the writer's asyncpg connection
        (`toolwire.store.ledger_pg`); the rest run through SQLAlchemy on that connection."""
        if self._sqlite is not None:
            return await self._sqlite.run(
                functools.partial(self._write_batch, reserves=reserves, resolves=resolves),
                ops=len(reserves) + len(resolves),
            )
        try:
            conn = await self._connection()
            if not any(op.caps for op in reserves) and not any(op.buckets for op in resolves):
                outcome = await self._write_in_one_statement(conn, reserves, resolves)
                if outcome is not None:
                    return outcome
            return await conn.run_sync(self._write_batch, reserves, resolves)
        except Exception:
            await self._drop_connection()  # start the next batch on a fresh connection
            raise

    async def _write_in_one_statement(
        self, conn: AsyncConnection, reserves: list[_Reserve], resolves: list[_Resolve]
    ) -> _Outcome | None:
        """The PostgreSQL batch as one statement on the asyncpg connection
        (`toolwire.store.ledger_pg`); None when it must run on the general path."""
        totals: dict[str, int] = defaultdict(int)
        by_account: dict[str, list[_Reserve]] = defaultdict(list)
        for op in reserves:
            totals[op.account_id] += op.amount
            by_account[op.account_id].append(op)
        resolutions: dict[str, ledger_pg.Resolution] = {}
        for res in resolves:
            r = res.reservation
            totals[r.account_id] += 0
            resolutions.setdefault(
                r.id,
                ledger_pg.Resolution(
                    r.account_id, r.key_id, res.kind, res.credit, res.charge, r.id
                ),
            )
        raw = await conn.get_raw_connection()
        written = await ledger_pg.write_batch(
            raw.driver_connection,
            totals,
            list(resolutions.values()),
            [
                ledger_pg.Reserve(
                    op.account_id,
                    op.key_id,
                    op.amount,
                    op.reservation_id,
                    op.request_id,
                    op.tool,
                    op.operation,
                )
                for op in reserves
            ],
            now=utcnow(),
            instance_id=self.instance_id,
            audits=self._audit_rows(resolves),
        )
        if written is None:
            return None
        self.stats.single_statement += 1
        outcome = _Outcome(final=written.balances)
        after_credit: dict[str, int] = {}
        for account_id, balance in written.balances.items():
            running = after_credit[account_id] = balance + totals[account_id]
            for made in by_account.get(account_id, ()):
                running -= made.amount
                outcome.reserved.append((made, self._reservation(made, running)))
        applied = set(written.resolved)
        for resolve in resolves:
            rid = resolve.reservation.id
            first = rid in applied
            applied.discard(rid)  # a duplicate in the same batch was not applied
            outcome.resolved.append((resolve, first, after_credit[resolve.reservation.account_id]))
        return outcome

    def _statements(self, conn: Connection) -> BatchStatements:
        if self._sqlite is not None:
            return SqliteStatements(conn)
        return AlchemyStatements(conn, self._resolution_insert(), self._audit_insert)

    def _write_batch(
        self, conn: Connection, reserves: list[_Reserve], resolves: list[_Resolve]
    ) -> _Outcome:
        now = utcnow()
        outcome = _Outcome()
        with conn.begin():
            sql = self._statements(conn)
            # 0. budgets: lock the budgeted keys' counters, refuse what goes over a cap.
            budgeted = any(op.caps for op in reserves) or any(op.buckets for op in resolves)
            if budgeted:
                reserves = self._admit_budgets(conn, now, reserves, resolves, outcome)
            # 1. resolutions: at most one per reservation id, ever.
            credit: dict[str, int] = defaultdict(int)
            applied: set[str] = set()
            given_back: list[tuple[tuple[str, ...], int]] = []
            if resolves:
                applied = self._insert_resolutions(sql, resolves, now)
                audit_rows = self._audit_rows(resolves)
                for row in audit_rows:
                    if row["call_id"] not in applied:
                        row["credits_charged"] = 0
                if audit_rows:
                    sql.insert_audit(audit_rows)
                seen: set[str] = set()
                for op in resolves:
                    rid = op.reservation.id
                    if rid in applied and rid not in seen:
                        seen.add(rid)
                        credit[op.reservation.account_id] += op.credit
                        if op.buckets:
                            given_back.append((op.buckets, op.credit))
            # 2. balances, one account at a time in a fixed order.
            by_account: dict[str, list[_Reserve]] = defaultdict(list)
            for reserve in reserves:
                by_account[reserve.account_id].append(reserve)
            touched = set(credit) | set(by_account)
            touched.update(op.reservation.account_id for op in resolves)
            after_credit: dict[str, int] = {}
            for account_id in sorted(touched):
                after_credit[account_id] = self._apply_account(
                    sql, account_id, credit.get(account_id, 0), by_account[account_id], outcome
                )
            # 3. the reserve entries, in one executemany.
            if outcome.reserved:
                sql.insert_entries(
                    [
                        {
                            "account_id": op.account_id,
                            "key_id": op.key_id,
                            "kind": "reserve",
                            "amount": -op.amount,
                            "charged": 0,
                            "reservation_id": op.reservation_id,
                            "request_id": op.request_id,
                            "tool": op.tool,
                            "operation": op.operation,
                            "note": None,
                            "created_at": now,
                            "instance_id": self.instance_id,
                        }
                        for op, _ in outcome.reserved
                    ],
                )
            # 4. budgets: the counters move by what was reserved and what came back.
            if budgeted:
                reserved = [(op.key_id, op.amount, op.caps) for op, _ in outcome.reserved]
                budgets.apply(conn, core_budgets.deltas_for(reserved, given_back, now))
                for made, reservation in outcome.reserved:
                    if made.caps:
                        outcome.buckets[reservation.id] = core_budgets.buckets_for(
                            made.key_id, made.caps, now
                        )
        for op in resolves:
            rid = op.reservation.id
            first = rid in applied
            applied.discard(rid)  # a duplicate in the same batch was not applied
            outcome.resolved.append((op, first, after_credit[op.reservation.account_id]))
        return outcome

    @staticmethod
    def _admit_budgets(
        conn: Connection,
        now: datetime,
        reserves: list[_Reserve],
        resolves: list[_Resolve],
        outcome: _Outcome,
    ) -> list[_Reserve]:
        """Lock the budget counters this batch moves; return the reservations within their caps
        (the others are refused in `outcome`)."""
        capped = [op for op in reserves if op.caps]
        giving_back = [(op.buckets[0], b) for op in resolves for b in op.buckets[1:]]
        requests = [core_budgets.BudgetClaim(op.key_id, op.amount, op.caps) for op in capped]
        _, verdicts = budgets.lock_and_admit(conn, now, requests, giving_back)
        refused = set()
        for op, verdict in zip(capped, verdicts, strict=True):
            if verdict is not None:
                refused.add(id(op))
                outcome.refused.append((op, verdict))
        return [op for op in reserves if id(op) not in refused]

    def _insert_resolutions(
        self, sql: BatchStatements, resolves: list[_Resolve], now: datetime
    ) -> set[str]:
        rows = []
        seen: set[str] = set()
        for op in resolves:
            res = op.reservation
            if res.id in seen:
                continue
            seen.add(res.id)
            rows.append(
                {
                    "account_id": res.account_id,
                    "key_id": res.key_id,
                    "kind": op.kind,
                    "amount": op.credit,
                    "charged": op.charge,
                    "reservation_id": res.id,
                    "request_id": None,
                    "tool": None,
                    "operation": None,
                    "note": None,
                    "created_at": now,
                    "instance_id": None,
                }
            )
        return sql.insert_resolutions(rows)

    def _apply_account(
        self,
        sql: BatchStatements,
        account_id: str,
        credit: int,
        ops: list[_Reserve],
        outcome: _Outcome,
    ) -> int:
        """Apply one account's credits and as many of its reservations as it can afford, in
        arrival order; returns the balance after the credits (before the reservations)."""
        total = sum(op.amount for op in ops)
        net = total - credit
        if not ops and net == 0:
            value = sql.read(account_id)
            if value is None:
                return 0
            outcome.final[account_id] = value
            return value
        applied = sql.apply_net(account_id, net)
        if applied is not None:
            running = applied + total
            after_credit = running
            for op in ops:
                running -= op.amount
                outcome.reserved.append((op, self._reservation(op, running)))
            outcome.final[account_id] = running
            return after_credit
        # Not enough for all of them (or no such account): lock the row, pick what fits.
        value = sql.read_for_update(account_id)
        if value is None:
            error = NotFound("no such account", details={"account_id": account_id})
            outcome.refused.extend((op, error) for op in ops)
            return 0
        after_credit = value + credit
        running = after_credit
        accepted = 0
        for op in ops:
            if op.amount <= running:
                running -= op.amount
                accepted += op.amount
                outcome.reserved.append((op, self._reservation(op, running)))
            else:
                outcome.refused.append((op, _insufficient(op.amount, running)))
        if accepted or credit:
            sql.apply(account_id, accepted - credit)
        outcome.final[account_id] = running
        return after_credit

    @staticmethod
    def _reservation(op: _Reserve, balance_after: int) -> Reservation:
        return Reservation(op.reservation_id, op.account_id, op.key_id, op.amount, balance_after)


def _recovery_audit(row: Any, charge: int, note: str, now: datetime) -> dict[str, Any]:
    """The audit record of a charge or release a recovery made for a dead call."""
    return {
        "request_id": row.request_id or row.reservation_id,
        "at": now,
        "account_id": row.account_id,
        "key_id": row.key_id,
        "tool": row.tool,
        "operation": row.operation,
        "door": RECOVERY_DOOR,
        "outcome": "CHARGED" if charge else "RELEASED",
        "credits_charged": charge,
        "latency_ms": 0.0,
        "credential_source": None,
        "message": f"{note} (reservation {row.reservation_id})",
        "upstream": None,
        "arguments_digest": None,
        "arguments": None,
        "call_id": row.reservation_id,
    }


def _insufficient(required: int, balance: int) -> InsufficientCredits:
    return InsufficientCredits(
        details={"required": micro_to_credits(required), "balance": micro_to_credits(balance)}
    )
