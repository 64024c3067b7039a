"""Engine construction for the two supported backends: SQLite (aiosqlite) and PostgreSQL (asyncpg).

What it is: `create_engine(url)` with the connection settings every store module relies on:
SQLite in WAL mode with `synchronous=NORMAL`, a busy timeout and foreign keys on (set on each new
connection by a connect event listener); PostgreSQL with a pool of about ten connections, no
pre-ping, asyncpg's prepared-statement cache on, and timeouts on connect, pool acquire and
statements; and `unreachable`, the allow-list that tells an outage from any other error. What
it is not: URL discovery or conversion (`toolwire.settings` hands over URLs already in async
form) nor schema management (`toolwire.store.migrations`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event, exc, make_url
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 15_000
"""How long a SQLite connection waits for another writer's lock before failing."""

PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 10
PG_STATEMENT_CACHE_SIZE = 256
PG_CONNECT_TIMEOUT_S = 5.0
"""Opening a connection (TCP, TLS, authentication) fails after this long."""
PG_POOL_TIMEOUT_S = 10.0
"""Waiting for a free pooled connection fails after this long."""
PG_COMMAND_TIMEOUT_S = 60.0
"""A statement that runs longer than this fails instead of holding a caller forever."""

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, no route, unreachable host (also asyncio streams)
    TimeoutError,  # connect timeout, statement timeout (asyncpg's command_timeout)
    exc.TimeoutError,  # SQLAlchemy's pool: no connection free within the acquire timeout
)
"""The allow-list: what says "the database could not be reached", wherever in the cause chain
(SQLAlchemy wraps a driver's error, the driver may wrap a socket's); asyncpg's connection-class
errors are added by `_asyncpg_errors`."""

NEVER_UNREACHABLE: tuple[type[BaseException], ...] = (
    exc.IntegrityError,
    exc.DataError,
    exc.ProgrammingError,
    exc.NotSupportedError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
)
"""Checked first, at every link: the request's fault or a bug, never an outage."""

_ASYNCPG: list[tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]] = []


def _asyncpg_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """asyncpg's (outage, never-an-outage) error classes. Empty until asyncpg has been imported
    (it is imported only with a PostgreSQL database, and no asyncpg error exists before), so a
    SQLite gateway never loads it (tests/test_app.py checks the idle imports)."""
    if _ASYNCPG:
        return _ASYNCPG[0]
    if "asyncpg" not in sys.modules:
        return (), ()
    import asyncpg  # type: ignore[import-untyped]

    errors = asyncpg.exceptions
    kinds: tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]] = (
        (
            errors.ConnectionDoesNotExistError,  # closed in the middle of an operation
            errors.PostgresConnectionError,  # SQLSTATE class 08
            errors.OperatorInterventionError,  # class 57: shutdown, cannot connect now
            errors.TooManyConnectionsError,  # 53300: the server has no slot for us
            errors.ObjectNotInPrerequisiteStateError,  # 55000: database not accepting
            # connections (ALLOW_CONNECTIONS false); no statement of ours raises it otherwise
            errors.InterfaceError,  # "connection is closed" (its DataError is excluded)
        ),
        (errors.DataError,),  # bad query input: a subclass of InterfaceError
    )
    _ASYNCPG.append(kinds)
    return kinds


SQLITE_UNREACHABLE_CODES = frozenset({5, 10, 14})
"""SQLite primary result codes of an outage: SQLITE_BUSY (5: the busy timeout ran out),
SQLITE_IOERR (10: disk I/O error), SQLITE_CANTOPEN (14: unable to open database file)."""


def unreachable(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says the database could not be reached
    (`CONNECTION_ERRORS`, a SQLAlchemy error its dialect judged a disconnect, or a SQLite error
    with one of `SQLITE_UNREACHABLE_CODES`); False at once for `NEVER_UNREACHABLE`."""
    outage, never = _asyncpg_errors()
    seen: BaseException | None = error
    depth = 0
    while seen is not None and depth < 16:
        if isinstance(seen, NEVER_UNREACHABLE + never):
            return False
        if isinstance(seen, exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, CONNECTION_ERRORS + outage):
            return True
        if isinstance(seen, sqlite3.Error):
            code = seen.sqlite_errorcode  # Python >= 3.11
            return code is not None and code & 0xFF in SQLITE_UNREACHABLE_CODES
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return False


def parse_url(url: str | URL) -> URL:
    """Parse and check an async database URL; raises ValueError for anything unsupported."""
    parsed = make_url(url)
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}; "
            f"use one of {', '.join(SUPPORTED_DRIVERS)}"
        )
    if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise ValueError("in-memory SQLite is not supported; give a file path")
    return parsed


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether the engine talks to SQLite (some statements differ slightly)."""
    return engine.dialect.name == "sqlite"


def create_engine(
    url: str | URL,
    *,
    connect_timeout_s: float = PG_CONNECT_TIMEOUT_S,
    pool_timeout_s: float = PG_POOL_TIMEOUT_S,
    statement_timeout_s: float = PG_COMMAND_TIMEOUT_S,
    busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000,
    **kwargs: Any,
) -> AsyncEngine:
    """An `AsyncEngine` for a `sqlite+aiosqlite:///abs/path.db` or `postgresql+asyncpg://` URL.

    PostgreSQL only: a connection attempt fails after `connect_timeout_s`, waiting for a pooled
    connection after `pool_timeout_s`, a statement after `statement_timeout_s` (seconds; the
    `TOOLWIRE_DB_*_TIMEOUT_S` settings), each as an error `unreachable` classifies as an outage.
    SQLite only: a statement waiting for another connection's lock fails after `busy_timeout_s`
    (`TOOLWIRE_DB_BUSY_TIMEOUT_S`; SQLITE_BUSY, an outage too); `sync_sqlite_engine` keeps it.
    Extra keyword arguments go to `create_async_engine` (e.g. `poolclass` for a one-off engine).
    """
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        engine = create_async_engine(parsed, **kwargs)
        busy_ms = max(1, round(busy_timeout_s * 1000))
        _SQLITE_BUSY_MS[engine.sync_engine] = busy_ms
        event.listen(engine.sync_engine, "connect", functools.partial(_sqlite_on_connect, busy_ms))
        return engine
    options: dict[str, Any] = {"pool_pre_ping": False}
    if "poolclass" not in kwargs:
        options.update(
            pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, pool_timeout=pool_timeout_s
        )
    query = dict(parsed.query)
    query.setdefault("prepared_statement_cache_size", str(PG_STATEMENT_CACHE_SIZE))
    parsed = parsed.set(query=query)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("command_timeout", statement_timeout_s)
    connect_args.setdefault("timeout", connect_timeout_s)
    options.update(kwargs)
    return create_async_engine(parsed, connect_args=connect_args, **options)


def sync_sqlite_engine(engine: AsyncEngine, *, connections: int = 1) -> Engine:
    """A plain (pysqlite) engine on the same SQLite file, with the same pragmas, for work that
    runs whole in one worker thread (the ledger's batches) instead of hopping per statement;
    at most `connections` connections at once (the ledger's writer keeps a second one for its
    checkpoints)."""
    url = engine.url.set(drivername="sqlite")
    sync = sa_create_engine(
        url, pool_size=connections, max_overflow=0, connect_args={"check_same_thread": False}
    )
    event.listen(sync, "connect", functools.partial(_sqlite_on_connect, sqlite_busy_ms(engine)))
    return sync


SQLITE_BUSY = 5
"""SQLite's primary result code for a lock held by another connection."""


def is_sqlite_busy(error: BaseException) -> bool:
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


_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_WRITE_LOCKS_GUARD = threading.Lock()


def sqlite_write_lock(engine: Engine | AsyncEngine) -> threading.Lock:
    """This process's lock for writing to `engine`'s SQLite file, one per file, shared by every
    writer that commits from its own thread (the ledger's batches, the audit sink's inserts).

    SQLite lets one connection write at a time; another connection that asks meanwhile waits in
    SQLite's busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between tries and does not
    wake when the lock is freed. Between two writers of one process that turned a free call's
    audit batch into tens of milliseconds for every priced call behind it (priced calls fell
    from ~5,800 to ~220 req/s under a mixed load, `wrk -c16` of each). Waiting on this lock
    instead wakes at its release. Other processes (workers, instances) still meet the busy
    handler."""
    database = engine.url.database or ":memory:"
    key = database if database == ":memory:" else os.path.realpath(database)
    with _SQLITE_WRITE_LOCKS_GUARD:
        found = _SQLITE_WRITE_LOCKS.get(key)
        if found is None:
            found = _SQLITE_WRITE_LOCKS[key] = threading.Lock()
        return found


T = TypeVar("T")


def write_now(
    lock: threading.Lock, raw: sqlite3.Connection, busy_ms: int, write: Callable[[], T]
) -> tuple[bool, T | None]:
    """`write()` (one transaction on `raw`) now or not at all, for a writer on the event loop,
    which must not wait: (True, its outcome), or (False, None) when this process's other writer
    holds `lock` (`sqlite_write_lock`) or another process holds SQLite's write lock (SQLITE_BUSY
    at once: the busy timeout is 0 meanwhile, then `busy_ms` again; the transaction rolled back,
    nothing written). Any other error propagates."""
    if not lock.acquire(blocking=False):
        return False, None
    try:
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            return True, write()
        except Exception as error:
            if is_sqlite_busy(error):
                return False, None
            raise
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed by the failed write
                raw.execute(f"PRAGMA busy_timeout = {busy_ms}")
    finally:
        lock.release()


def sqlite_busy_ms(engine: AsyncEngine) -> int:
    """The busy timeout (ms) `engine`'s connections and the plain engines beside it use."""
    return _SQLITE_BUSY_MS.get(engine.sync_engine, SQLITE_BUSY_TIMEOUT_MS)


_SQLITE_BUSY_MS: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
"""Each SQLite engine's busy timeout (ms), for the plain engines made beside it."""


def _sqlite_on_connect(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    # busy_timeout first: switching to WAL needs a lock another process may briefly hold.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
