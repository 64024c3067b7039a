"""The SQLite ledger writer's two choices per batch: commit on the event loop or in the thread,
and when to checkpoint the WAL (docs/design/ledger-sqlite-writer.md).

A lone operation (one reserve, settle or release, the common case at low concurrency) commits on
the event-loop thread itself, with a busy timeout of 0: a SQLite commit in WAL mode with
``synchronous = NORMAL`` is a WAL append (no fsync), ~0.1 ms, less than the hop to the writer
thread and back. Two things could make it long, and both are kept off the loop:

- another process holds the write lock: the statement fails at once with SQLITE_BUSY, the
  transaction rolls back (nothing written) and the batch runs in the writer thread, which waits
  for the lock with the usual busy timeout;
- a WAL checkpoint (it fsyncs the database): the writer connection has
  ``wal_autocheckpoint = 0``, and every `CHECKPOINT_EVERY` batches the writer thread runs a
  PASSIVE checkpoint (it never waits for readers); while it runs, batches go to the thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine

from toolwire.store.db import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger("toolwire.store.ledger")
T = TypeVar("T")

CHECKPOINT_EVERY = 256
"""Batches between two PASSIVE checkpoints: a priced call's batch appends ~5 pages, so about
as often as SQLite's own autocheckpoint (1,000 pages) would; each checkpoint fsyncs."""
SQLITE_BUSY = 5
"""SQLite's primary result code for a lock held by another connection."""


@dataclass(slots=True)
class WriterState:
    """Per ledger: batches since the last checkpoint, the checkpoint running (if any), and how
    many on-loop commits found the lock taken (for tests and benchmarks)."""

    batches: int = 0
    checkpoint: asyncio.Future[None] | None = None
    busy: int = 0
    on_loop: int = 0

    def may_commit_on_loop(self) -> bool:
        """True when no checkpoint is running on the writer connection."""
        return self.checkpoint is None or self.checkpoint.done()

    def due(self) -> bool:
        """Count one committed batch; True when a checkpoint should start now."""
        self.batches += 1
        if self.batches < CHECKPOINT_EVERY or not self.may_commit_on_loop():
            return False
        self.batches = 0
        return True


def is_busy(error: BaseException) -> bool:
    """Whether `error` or an error in its cause chain (SQLAlchemy wraps the driver's) is
    SQLITE_BUSY, with any extended code (BUSY_SNAPSHOT, BUSY_RECOVERY)."""
    seen: BaseException | None = error
    depth = 0
    while seen is not None and depth < 8:
        if isinstance(seen, sqlite3.OperationalError):
            return seen.sqlite_errorcode & 0xFF == SQLITE_BUSY  # Python >= 3.11
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return False


class SqliteWriter:
    """The ledger writer's SQLite connection (one, kept open) and its thread; `run` commits one
    batch, on the loop when it is alone and nothing else uses the connection, else in the
    thread. One batch at a time: the ledger's writer task awaits each `run`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        """A plain pysqlite engine on the ledger's file (`db.sync_sqlite_engine`)."""
        self.state = WriterState()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        self._conn: Connection | None = None
        self._busy_ms = SQLITE_BUSY_TIMEOUT_MS
        """The connection's own busy timeout (`TOOLWIRE_DB_BUSY_TIMEOUT_S`), put back after
        each commit on the loop (which runs with 0)."""

    async def run(self, write: Callable[[Connection], T], *, alone: bool) -> T:
        """`write(conn)` runs the batch in one transaction on the writer connection and returns
        its outcome. Raises what `write` raises (the connection is then replaced)."""
        loop = asyncio.get_running_loop()
        try:
            if alone and self.state.may_commit_on_loop():
                done, outcome = self._on_loop(write)
                if done:
                    return outcome  # type: ignore[return-value]
            return await loop.run_in_executor(self._executor, self._in_thread, write)
        finally:
            if self.state.due():
                self.state.checkpoint = loop.run_in_executor(self._executor, self._checkpoint)

    def close(self) -> None:
        """Close the connection in its thread (after any checkpoint), stop the thread."""
        self._executor.submit(self._drop).result()
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    def _on_loop(self, write: Callable[[Connection], T]) -> tuple[bool, T | None]:
        """(True, outcome), or (False, None) when another process holds the write lock
        (SQLITE_BUSY at once: busy timeout 0; the transaction rolled back, nothing written)."""
        conn = self._connection()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            outcome = write(conn)
        except Exception as exc:
            if is_busy(exc):
                self.state.busy += 1
                return False, None
            self._drop()
            raise
        finally:
            if not conn.closed:
                raw.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        self.state.on_loop += 1
        return True, outcome

    def _in_thread(self, write: Callable[[Connection], T]) -> T:
        conn = self._connection()
        try:
            return write(conn)
        except Exception:
            self._drop()  # start the next batch on a fresh connection
            raise

    def _checkpoint(self) -> None:
        try:
            raw = self._connection().connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception:
            log.warning("ledger WAL checkpoint failed", exc_info=True)

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
            raw = self._conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA wal_autocheckpoint = 0")
            self._busy_ms = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing the ledger writer's connection failed", exc_info=True)
