"""The SQLite ledger writer's two choices per batch: commit on the event loop or in the thread,
and when to checkpoint the WAL (docs/design/ledger-sqlite-writer.md).

A lone operation (one reserve, settle or release, the common case at low concurrency) commits on
the event-loop thread itself, with a busy timeout of 0: a SQLite commit in WAL mode with
``synchronous = NORMAL`` is a WAL append (no fsync), ~0.1 ms, less than the hop to the writer
thread and back. Two things could make it long, and both are kept off the loop:

- another process holds the write lock: the statement fails at once with SQLITE_BUSY, the
  transaction rolls back (nothing written) and the batch runs in the writer thread, which waits
  for the lock with the usual busy timeout;
- a WAL checkpoint (it fsyncs the WAL and the database): the writer connection has
  ``wal_autocheckpoint = 0``, and the writer checkpoints itself.

A checkpoint cycle starts every `CHECKPOINT_EVERY` batches or `CHECKPOINT_OPS` operations,
whichever comes first, with PASSIVE passes (they never wait for readers):

1. *beside* the commits, on a connection and a thread of its own: batches keep committing (on
   the loop or in the writer thread) while it copies nearly the whole WAL into the database and
   waits for the fsyncs of that bulk. Nothing waits for it; but commits keep appending while it
   runs, so under steady load it alone seldom leaves the WAL all copied, and the WAL, which
   restarts only then, would grow without end;
2. once the WAL holds `RESTART_FRAMES` frames, *between* two batches, on the writer connection
   in the writer thread (batches wait behind it, and none commits on the loop meanwhile): it
   copies only what was committed during pass 1, so the WAL is then all in the database and the
   next commit starts it again from its beginning. It still waits for two fsyncs (a few ms,
   however little it copies), which is why it runs only every few cycles.

After a restart the writer's first commit truncates the WAL file to `WAL_SIZE_LIMIT`
(``journal_size_limit``): a WAL that grew while a reader held an old snapshot shrinks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from toolwire.store.db import SQLITE_BUSY_TIMEOUT_MS, sqlite_write_lock, write_now

log = logging.getLogger("toolwire.store.ledger")
T = TypeVar("T")

CHECKPOINT_EVERY = 256
"""Batches between two checkpoint cycles: a lone operation's batch appends ~8 frames (pages) to
the WAL, so about 2,000 frames, twice SQLite's own autocheckpoint."""
CHECKPOINT_OPS = 1024
"""Operations between two checkpoint cycles, whichever of the two counts is reached first: a
batch of 30 operations (priced calls at concurrency 32) appends ~25 frames, and 256 of them
made a 26 MB WAL, and a 25 ms checkpoint when everything waited for it."""
RESTART_FRAMES = 4096
"""Frames in the WAL (as pass 1 found it) from which a cycle runs pass 2, so that the WAL
restarts: below it, a cycle is pass 1 alone (nothing waits) and the WAL keeps growing. Pass 2
waits for two fsyncs, whatever it copies: the fewer of them, the fewer calls wait."""
WAL_SIZE_LIMIT = 64 * 2**20
"""Bytes the WAL file is truncated to when it restarts (``journal_size_limit``): above what it
holds when pass 2 restarts it (~6,000 frames of 4 KB), so that it is not cut and grown again
every time; a WAL that grew further (a reader kept an old snapshot) shrinks back to it."""

Checkpointed = tuple[int, int, int]
"""A PASSIVE checkpoint's answer: (busy, frames in the WAL, frames copied to the database)."""


@dataclass(slots=True)
class WriterState:
    """Per ledger: batches and operations since the last checkpoint cycle, the cycle running
    (if any) and its pass on the writer connection, what the checkpoints saw, and how many
    commits ran on the loop or found the lock taken (tests, benchmarks)."""

    batches: int = 0
    ops: int = 0
    cycle: asyncio.Task[None] | None = None
    checkpoint: asyncio.Future[Checkpointed | None] | None = None
    """Pass 2 of the running cycle, on the writer connection in the writer thread."""
    cycles: int = 0
    """Checkpoint cycles completed."""
    wal_frames: int = 0
    """Frames in the WAL when a checkpoint last looked."""
    restarts: int = 0
    """How often a checkpoint found fewer frames in the WAL than the one before: it restarted."""
    busy: int = 0
    on_loop: int = 0

    def may_commit_on_loop(self) -> bool:
        """True unless pass 2 of a checkpoint cycle uses the writer connection."""
        return self.checkpoint is None or self.checkpoint.done()

    def due(self, ops: int) -> bool:
        """Count one committed batch of `ops` operations; True when a checkpoint cycle should
        start now (none is running)."""
        self.batches += 1
        self.ops += ops
        if self.batches < CHECKPOINT_EVERY and self.ops < CHECKPOINT_OPS:
            return False
        if self.cycle is not None and not self.cycle.done():
            return False
        self.batches = self.ops = 0
        return True

    def saw(self, answer: Checkpointed | None) -> int:
        """Note what a checkpoint answered; returns the frames it found in the WAL (-1: it did
        not run, another connection was checkpointing)."""
        if answer is None or answer[0] or answer[1] < 0:
            return -1
        if answer[1] < self.wal_frames:
            self.restarts += 1
        self.wal_frames = answer[1]
        return answer[1]


class SqliteWriter:
    """The ledger writer's SQLite connection (one, kept open) and its thread; `run` commits one
    batch, on the loop when it is alone and nothing else uses the connection, else in the
    thread. One batch at a time: the ledger's writer task awaits each `run`. A second
    connection, in a thread of its own, runs pass 1 of each checkpoint cycle."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        """A plain pysqlite engine on the ledger's file, two connections
        (`db.sync_sqlite_engine`): the writer's and the checkpoint's."""
        self.state = WriterState()
        self._write_lock = sqlite_write_lock(engine)
        """This process's writers of the file queue here, not in SQLite's busy handler."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        self._beside = ThreadPoolExecutor(1, thread_name_prefix="ledger-checkpoint")
        self._conn: Connection | None = None
        self._checkpoint_conn: Connection | None = None
        self._closed = False
        self._busy_ms = SQLITE_BUSY_TIMEOUT_MS
        """The connection's own busy timeout (`TOOLWIRE_DB_BUSY_TIMEOUT_S`), put back after
        each commit on the loop (which runs with 0)."""

    async def run(self, write: Callable[[Connection], T], *, ops: int) -> T:
        """`write(conn)` runs the batch of `ops` operations in one transaction on the writer
        connection and returns its outcome. Raises what `write` raises (the connection is then
        replaced)."""
        loop = asyncio.get_running_loop()
        try:
            if self.state.may_commit_on_loop():
                done, outcome = self._on_loop(write)
                if done:
                    return outcome  # type: ignore[return-value]
            return await loop.run_in_executor(self._executor, self._in_thread, write)
        finally:
            if self.state.due(ops) and not self._closed:
                self.state.cycle = loop.create_task(self._cycle(), name="ledger-checkpoint")

    async def close(self) -> None:
        """Let a running checkpoint cycle end, close both connections in their threads, stop
        the threads."""
        self._closed = True
        cycle = self.state.cycle
        if cycle is not None and not cycle.done():
            await asyncio.shield(cycle)
        self._beside.submit(self._drop_checkpoint_connection).result()
        self._beside.shutdown(wait=True)
        self._executor.submit(self._drop).result()
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    async def _cycle(self) -> None:
        """One checkpoint cycle: pass 1 beside the commits, then pass 2 between two batches
        when the WAL has `RESTART_FRAMES` frames."""
        loop = asyncio.get_running_loop()
        frames = self.state.saw(await loop.run_in_executor(self._beside, self._checkpoint_beside))
        if frames >= RESTART_FRAMES and not self._closed:
            self.state.checkpoint = loop.run_in_executor(self._executor, self._checkpoint)
            self.state.saw(await self.state.checkpoint)
        self.state.cycles += 1

    def _on_loop(self, write: Callable[[Connection], T]) -> tuple[bool, T | None]:
        """(True, outcome), or (False, None) when another process holds the write lock
        (SQLITE_BUSY at once: busy timeout 0; the transaction rolled back, nothing written)."""
        conn = self._connection()
        raw: Any = conn.connection.dbapi_connection
        try:
            done, outcome = write_now(self._write_lock, raw, self._busy_ms, lambda: write(conn))
        except Exception:
            self._drop()
            raise
        if not done:
            self.state.busy += 1
            return False, None
        self.state.on_loop += 1
        return True, outcome

    def _in_thread(self, write: Callable[[Connection], T]) -> T:
        with self._write_lock:
            conn = self._connection()
            try:
                return write(conn)
            except Exception:
                self._drop()  # start the next batch on a fresh connection
                raise

    def _checkpoint(self) -> Checkpointed | None:
        """Pass 2, in the writer thread on the writer connection."""
        return _passive_checkpoint(self._connection())

    def _checkpoint_beside(self) -> Checkpointed | None:
        """Pass 1, in the checkpoint thread on its own connection."""
        if self._checkpoint_conn is None or self._checkpoint_conn.closed:
            self._checkpoint_conn = self.engine.connect()
        return _passive_checkpoint(self._checkpoint_conn)

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
            raw = self._conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA wal_autocheckpoint = 0")
            raw.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            self._busy_ms = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        _close(conn)

    def _drop_checkpoint_connection(self) -> None:
        conn, self._checkpoint_conn = self._checkpoint_conn, None
        _close(conn)


def _passive_checkpoint(conn: Connection) -> Checkpointed | None:
    """``PRAGMA wal_checkpoint(PASSIVE)`` on `conn`: its answer, or None when it failed (logged;
    the next cycle tries again)."""
    try:
        raw: Any = conn.connection.dbapi_connection
        busy, frames, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(copied)
    except Exception:
        log.warning("ledger WAL checkpoint failed", exc_info=True)
        return None


def _close(conn: Connection | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:
            log.debug("closing a ledger writer's connection failed", exc_info=True)
