"""Audit events written off the call path: `SqlAuditSink`, the `AuditSink` port.

What it is: `record(event)` appends to an in-memory buffer and returns at once; a background task
writes the buffer in batches about every 200 ms, or as soon as 500 events are waiting; `close()`
writes what is left. The buffer is bounded: beyond `max_buffer` events the oldest are dropped
and counted (`dropped`), with a warning. A failed write is retried with back-off while the
buffer allows; every write is ``ON CONFLICT DO NOTHING`` on the call's id
(`AuditEvent.call_id`), so a batch whose commit applied but raised is not stored twice, nor a
record the ledger already committed with its settle. `recent()` reads events back, newest first.

A batch is a few statements, not one per row (docs/design/audit-batch-writes.md): on SQLite,
multi-row INSERTs of up to 64 rows in the writer thread (`insert_sqlite_audit`), on PostgreSQL one
INSERT of the rows sent as one JSON parameter (`PG_AUDIT_INSERT`), committed on its own.

Arguments: an event's `arguments` (present only for tools whose config keeps them) are passed
through `redact` (the vault's redactor, `Redactor.scrub_obj`) in the writer, off the call path,
and stored as JSON; a sink built without `redact` stores none. Reading, exporting and pruning
are `toolwire.store.audit_log.AuditLog`'s.

The record of a call that settles or releases credits is not written here: the ledger commits
it with the settle (`SqlLedger.settle(..., audit)`, docs/design/durable-audit.md), and the
gateway tells the sink with `recorded(event)`, which only counts it.

What it is not: a log shipper or an analytics store; `AuditEvent.extra` is not persisted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import re
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.model import AuditEvent
from toolwire.core.records import AuditRecord
from toolwire.store._common import sqlite_timestamp
from toolwire.store.db import (
    is_sqlite,
    sqlite_busy_ms,
    sqlite_write_lock,
    sync_sqlite_engine,
    write_now,
)
from toolwire.store.tables import AUDIT_CALL_PREDICATE, audit_events

__all__ = [
    "AUDIT_COLUMNS",
    "PG_AUDIT_INSERT",
    "AuditRecord",
    "SqlAuditSink",
    "audit_insert",
    "audit_row",
    "audit_values",
    "insert_sqlite_audit",
    "pg_audit_json",
    "record_of",
    "sqlite_audit_values",
    "sqlite_unix_timestamp",
]

log = logging.getLogger("toolwire.store.audit")
Redact = Callable[[Any], Any]

FLUSH_INTERVAL = 0.2
BATCH_SIZE = 500
MAX_BUFFER = 100_000
MAX_RECENT = 1_000


class SqlAuditSink:
    """Buffers audit events and writes them to `audit_events` in batches."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        batch_size: int = BATCH_SIZE,
        max_buffer: int = MAX_BUFFER,
        redact: Redact | None = None,
    ) -> None:
        self._engine = engine
        self.redact = redact
        """Applied to kept arguments before they are stored; None: arguments are not stored."""
        # SQLite: batches go through the raw sqlite3 connection in a worker thread, off the
        # event loop (the loop is every call's hot path); PostgreSQL: asyncpg on the loop.
        self._sqlite: Engine | None = sync_sqlite_engine(engine) if is_sqlite(engine) else None
        self._write_lock = sqlite_write_lock(engine) if self._sqlite is not None else None
        self._busy_ms = sqlite_busy_ms(engine) if self._sqlite is not None else 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="audit-writer")
        self._interval = flush_interval
        self._batch_size = batch_size
        self._max_buffer = max_buffer
        self._buffer: deque[AuditEvent] = deque()
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self.dropped = 0
        """Events dropped because the buffer was full (or could not be written at close)."""
        self._dropped_reported = 0
        self.written = 0
        self.settled = 0
        """Events the ledger committed with their settle (`recorded`), not written here."""

    def record(self, event: AuditEvent) -> None:
        if self._closed:
            log.warning("audit event %s recorded after close; dropped", event.request_id)
            self.dropped += 1
            return
        if len(self._buffer) >= self._max_buffer:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(event)
        self._nonempty.set()
        if len(self._buffer) >= self._batch_size:
            self._full.set()
        if self._task is None or self._task.done():
            self._start()

    def recorded(self, event: AuditEvent) -> None:
        """`event` was committed with its call's settle or release (`SqlLedger.settle(...,
        audit=event)`): it is not written again here, only counted (`settled`)."""
        self.settled += 1

    async def start(self) -> None:
        self._start()

    async def flush(self) -> int:
        """Write everything buffered now; returns how many events were written."""
        async with self._lock:
            return await self._write_all()

    async def close(self) -> None:
        """Write what is left and stop the background task."""
        if self._closed:
            return
        self._closing = True
        self._nonempty.set()
        self._full.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.shield(task)
            except Exception:
                log.exception("the audit writer failed")
        self._closed = True
        self._executor.shutdown(wait=True)
        if self._sqlite is not None:
            self._sqlite.dispose()
        if self._buffer:  # the writer could not write them: say so, once
            lost = len(self._buffer)
            self._buffer.clear()
            self.dropped += lost
            log.error("%d audit event(s) could not be written before close", lost)

    async def recent(self, limit: int = 100, account_id: str | None = None) -> list[AuditRecord]:
        """The most recent events (after writing what is buffered), newest first."""
        await self.flush()
        limit = max(1, min(int(limit), MAX_RECENT))
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if account_id is not None:
            query = query.where(audit_events.c.account_id == account_id)
        async with self._engine.connect() as conn:
            return [record_of(row) for row in await conn.execute(query)]

    def _start(self) -> None:
        if self._closing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: start() or the next record() will start the writer
        self._task = loop.create_task(self._run(), name="audit-writer")

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._nonempty.wait()
            if not self._closing and len(self._buffer) < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._full.wait()
            try:
                async with self._lock:
                    await self._write_all()
                failures = 0
            except Exception:
                failures += 1
                log.error("could not write %d audit event(s)", len(self._buffer), exc_info=True)
                if self._closing:
                    return
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            if self._closing and not self._buffer:
                return

    async def _insert(self, batch: list[AuditEvent]) -> None:
        if self._sqlite is None:
            await self._insert_pg(batch)
            return
        rows = [audit_values(e, self.redact) for e in batch]
        for start in range(0, len(rows), SQLITE_AUDIT_ROWS):
            chunk = rows[start : start + SQLITE_AUDIT_ROWS]
            if not self._insert_on_loop(chunk):
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, self._insert_sqlite, chunk)
            await asyncio.sleep(0)  # the loop's other work between two chunks

    def _insert_on_loop(self, rows: list[tuple[Any, ...]]) -> bool:
        """One transaction of `rows` on the loop, as the ledger commits its batches there
        (`ledger_sqlite`): a writer thread holding SQLite's write lock while it waits for the
        GIL (up to the 5 ms switch interval per statement, with the loop busy) starved the
        ledger's batches behind it (priced calls fell ~20x under a mixed load). False when
        another writer has the file (this process's writer thread, or another process:
        SQLITE_BUSY at once, busy timeout 0): nothing was written, run it in the thread."""
        assert self._sqlite is not None and self._write_lock is not None
        with self._sqlite.connect() as conn:
            raw: Any = conn.connection.dbapi_connection

            def insert() -> None:
                with conn.begin():
                    insert_sqlite_audit(raw, rows)

            done, _ = write_now(self._write_lock, raw, self._busy_ms, insert)
        return done

    def _insert_sqlite(self, rows: list[tuple[Any, ...]]) -> None:
        """`rows` in one transaction, in the writer thread, under the process's write lock for
        the file (`db.sqlite_write_lock`), waiting in SQLite's busy handler for another
        process."""
        assert self._sqlite is not None and self._write_lock is not None
        with self._write_lock, self._sqlite.begin() as conn:
            raw: Any = conn.connection.dbapi_connection
            insert_sqlite_audit(raw, rows)

    async def _insert_pg(self, batch: list[AuditEvent]) -> None:
        """One `PG_AUDIT_INSERT`, autocommit (one statement is atomic: no BEGIN/COMMIT round
        trips), through SQLAlchemy so that a lost connection is recognised and dropped from the
        pool as for any other statement."""
        rows = [audit_values(e, self.redact, at=_utc_datetime) for e in batch]
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(PG_AUDIT_INSERT, (pg_audit_json(rows),))

    async def _write_all(self) -> int:
        written = 0
        if self.dropped > self._dropped_reported:
            log.warning("audit buffer full: %d event(s) dropped so far", self.dropped)
            self._dropped_reported = self.dropped
        while self._buffer:
            count = min(len(self._buffer), self._batch_size)
            batch = [self._buffer.popleft() for _ in range(count)]
            if not self._buffer:
                self._nonempty.clear()
            if len(self._buffer) < self._batch_size:
                self._full.clear()
            try:
                await self._insert(batch)
            except BaseException:
                # Put them back in front (as far as the bound allows) to try again later.
                room = self._max_buffer - len(self._buffer)
                keep = batch[-room:] if room > 0 else []
                self.dropped += len(batch) - len(keep)
                self._buffer.extendleft(reversed(keep))
                if self._buffer:
                    self._nonempty.set()
                raise
            written += count
            self.written += count
        return written

    def row(self, event: AuditEvent) -> dict[str, Any]:
        """`event` as an `audit_events` row, its kept arguments redacted (`audit_row`)."""
        return audit_row(event, self.redact)


def audit_row(event: AuditEvent, redact: Redact | None = None) -> dict[str, Any]:
    """`event` as an `audit_events` row (column -> value; `at` an aware UTC datetime): what the
    sink writes, and what the ledger writes with a settle. Kept arguments are passed through
    `redact` and stored as JSON; without `redact` none are stored."""
    return {
        "request_id": event.request_id,
        "at": datetime.fromtimestamp(event.at, UTC),
        "account_id": event.account_id,
        "key_id": event.key_id,
        "tool": storable(event.tool),
        "operation": storable(event.operation),
        "door": event.door,
        "outcome": event.outcome,
        "credits_charged": int(event.credits_charged),
        "latency_ms": storable_ms(event.latency_ms),
        "credential_source": event.credential_source,
        "message": storable(event.message),
        "upstream": storable(event.upstream),
        "arguments_digest": event.arguments_digest,
        "arguments": _arguments(event, redact),
        "call_id": event.call_id,
    }


def audit_values(
    event: AuditEvent,
    redact: Redact | None = None,
    *,
    at: Callable[[float], Any] | None = None,
) -> tuple[Any, ...]:
    """`event` as one row's values in `AUDIT_COLUMNS` order, its kept arguments redacted as in
    `audit_row`; `at` turns the event's Unix seconds into the stored time (default: SQLite's
    text, `sqlite_unix_timestamp`, so the tuple equals ``sqlite_audit_values(audit_row(event,
    redact))``; `_utc_datetime` for PostgreSQL). The sink's per-row work: no dict, no aware
    datetime in between."""
    return (
        event.request_id,
        sqlite_unix_timestamp(event.at) if at is None else at(event.at),
        event.account_id,
        event.key_id,
        storable(event.tool),
        storable(event.operation),
        event.door,
        event.outcome,
        int(event.credits_charged),
        storable_ms(event.latency_ms),
        event.credential_source,
        storable(event.message),
        storable(event.upstream),
        event.arguments_digest,
        _arguments(event, redact),
        event.call_id,
    )


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str | None) -> str | None:
    """`text` as both databases can store it: NUL (which PostgreSQL's text refuses) and lone
    surrogates (which no UTF-8 encoder accepts, so SQLite's driver refuses them too) become
    U+FFFD. The free-text columns of a record (a tool name as a client sent it, an error
    message quoting an upstream) pass through here: one such character would otherwise fail
    its whole batch on every retry, and with it every record behind it (or a settle)."""
    if text is None or (text.isascii() and "\x00" not in text):
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def storable_ms(value: float) -> float:
    """A latency as every path can carry it: NaN and infinities (which JSON, the PostgreSQL
    batches' parameter format, has no number for: orjson writes null, which the NOT NULL column
    refuses) become 0.0. The gateway measures latencies with `perf_counter`, so none is expected;
    one would otherwise fail its batch on every retry, as `storable` says of text."""
    value = float(value)
    return value if math.isfinite(value) else 0.0


def sqlite_unix_timestamp(at: float) -> str:
    """Unix seconds as SQLAlchemy's SQLite DATETIME stores them (naive UTC text to the
    microsecond): exactly ``sqlite_timestamp(datetime.fromtimestamp(at, UTC))``, rounding half
    to even at the microsecond as `datetime.fromtimestamp` does, for about a quarter of its cost
    (the date and time of the second are cached)."""
    fraction, whole = math.modf(at)
    micros = round(fraction * 1e6)
    second = int(whole)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    return f"{_second_text(second)}.{micros:06d}"


@functools.lru_cache(maxsize=4)
def _second_text(second: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of a whole Unix second, UTC."""
    return datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat(sep=" ")


def _utc_datetime(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _arguments(event: AuditEvent, redact: Redact | None) -> str | None:
    """The kept arguments, redacted, as JSON; None when not kept or nothing redacts."""
    if event.arguments is None or redact is None:
        return None
    try:
        return orjson.dumps(redact(dict(event.arguments))).decode()
    except Exception:  # never lose the record over its arguments
        log.warning("audit event %s: arguments not kept", event.request_id, exc_info=True)
        return None


AUDIT_COLUMNS = (
    "request_id",
    "at",
    "account_id",
    "key_id",
    "tool",
    "operation",
    "door",
    "outcome",
    "credits_charged",
    "latency_ms",
    "credential_source",
    "message",
    "upstream",
    "arguments_digest",
    "arguments",
    "call_id",
)
"""Every column an audit row has, in one fixed order."""
PG_AUDIT_INSERT = (
    f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) "
    f"SELECT {', '.join(AUDIT_COLUMNS)} FROM json_populate_recordset(NULL::audit_events, $1::json)"
    f" ON CONFLICT (call_id) WHERE {AUDIT_CALL_PREDICATE} DO NOTHING"
)
"""Audit rows on asyncpg as ONE parameter, a JSON array of objects (`pg_audit_json`), read by
PostgreSQL with the table's own row type: one statement for any number of rows; a call's record
already stored (or twice in the batch) is kept once. Why JSON, not one array per column:
asyncpg checks every element of an array parameter against the `collections.abc` ABCs in
Python (16 checks a row here); orjson writes the whole batch in C
(docs/design/ledger-postgresql-batch.md)."""


def pg_audit_json(rows: Iterable[Sequence[Any]]) -> str:
    """`rows` (`AUDIT_COLUMNS` order, `at` aware datetimes) as `PG_AUDIT_INSERT`'s parameter."""
    return orjson.dumps([dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in rows]).decode()


SQLITE_AUDIT_ROWS = 64
"""Rows in the largest multi-row INSERT `insert_sqlite_audit` sends (16 parameters each)."""


def insert_sqlite_audit(raw: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert audit rows (`audit_values`: `AUDIT_COLUMNS` order, SQLite's values) on the raw
    sqlite3 connection, in its current transaction, ``ON CONFLICT DO NOTHING`` on the call's
    id: a record already stored, or met earlier in `rows`, is kept once.

    Sent as multi-row INSERTs of `SQLITE_AUDIT_ROWS` rows, the rest in halving sizes (32, 16,
    ..., 1): one ``sqlite3_step`` per statement (SQLite loops over the rows in C, the GIL
    released once, where `executemany` releases and retakes it around every row), at most 7
    distinct statement texts (sqlite3's statement cache keeps them prepared), and never more
    parameters than the connection's SQLITE_LIMIT_VARIABLE_NUMBER. Raises what sqlite3 raises;
    the caller's transaction then holds part of the rows, to be rolled back."""
    width = len(AUDIT_COLUMNS)
    fit = min(SQLITE_AUDIT_ROWS, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    size = 1 << (max(fit, 1).bit_length() - 1)  # a power of two: the ladder halves exactly
    done = 0
    while done < len(rows):
        while len(rows) - done < size:
            size //= 2
        chunk = rows[done : done + size]
        raw.execute(_sqlite_audit_insert(size), tuple(itertools.chain.from_iterable(chunk)))
        done += size


@functools.cache
def _sqlite_audit_insert(rows: int) -> str:
    """The INSERT of `rows` audit rows (`AUDIT_COLUMNS` order) on the raw sqlite3 connection."""
    one = f"({', '.join('?' for _ in AUDIT_COLUMNS)})"
    return (
        f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) VALUES {', '.join([one] * rows)} "
        f"ON CONFLICT (call_id) WHERE {AUDIT_CALL_PREDICATE} DO NOTHING"
    )


def audit_insert(engine: AsyncEngine | Engine) -> Any:
    """The SQLAlchemy INSERT of audit rows, ``ON CONFLICT DO NOTHING`` on the call's id: a
    call's record already stored (by the settle that committed it, or a write retried after a
    commit whose answer was lost) is kept and the new one dropped."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(audit_events).on_conflict_do_nothing(
        index_elements=[audit_events.c.call_id], index_where=text(AUDIT_CALL_PREDICATE)
    )


def sqlite_audit_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """An audit row (`SqlAuditSink.row`, `audit_row`) as its values for `insert_sqlite_audit`."""
    return tuple(
        sqlite_timestamp(row[name]) if name == "at" else row[name] for name in AUDIT_COLUMNS
    )


def record_of(row: Row[Any]) -> AuditRecord:
    """An `audit_events` row as an `AuditRecord`."""
    return AuditRecord(
        id=int(row.id),
        request_id=row.request_id,
        at=row.at,
        account_id=row.account_id,
        key_id=row.key_id,
        tool=row.tool,
        operation=row.operation,
        door=row.door,
        outcome=row.outcome,
        credits_charged=int(row.credits_charged),
        latency_ms=float(row.latency_ms),
        credential_source=row.credential_source,
        message=row.message,
        upstream=row.upstream,
        arguments_digest=row.arguments_digest,
        arguments=None if row.arguments is None else orjson.loads(row.arguments),
    )
