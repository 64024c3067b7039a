"""Engine construction for the two supported backends: SQLite (aiosqlite) and PostgreSQL (asyncpg).

What it is: `create_engine(url)` with the connection settings every store module relies on:
SQLite in WAL mode with `synchronous=NORMAL`, a busy timeout and foreign keys on (set on each new
connection by a connect event listener); PostgreSQL with a pool of about ten connections, no
pre-ping and asyncpg's prepared-statement cache on. What it is not: URL discovery or conversion
(`toolwire.settings` hands over URLs already in async form) nor schema management
(`toolwire.store.migrations`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event, exc, make_url
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 15_000
"""How long a SQLite connection waits for another writer's lock before failing."""

PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 10
PG_STATEMENT_CACHE_SIZE = 256
PG_COMMAND_TIMEOUT_S = 60.0
"""A statement that runs longer than this fails instead of holding a caller forever."""

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

UNREACHABLE: tuple[type[BaseException], ...] = (exc.DBAPIError, OSError, TimeoutError)
"""What a database that is down, refuses connections or does not answer raises through
SQLAlchemy (the driver's errors arrive wrapped in `DBAPIError`), or through a socket."""


def unreachable(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says the database could not be reached."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, UNREACHABLE):
            return True
        seen = seen.__cause__ or seen.__context__
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


def create_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An `AsyncEngine` for a `sqlite+aiosqlite:///abs/path.db` or `postgresql+asyncpg://` URL.

    Extra keyword arguments go to `create_async_engine` (e.g. `poolclass` for a one-off engine).
    """
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        engine = create_async_engine(parsed, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    options: dict[str, Any] = {"pool_pre_ping": False}
    if "poolclass" not in kwargs:
        options.update(pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW)
    query = dict(parsed.query)
    query.setdefault("prepared_statement_cache_size", str(PG_STATEMENT_CACHE_SIZE))
    parsed = parsed.set(query=query)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("command_timeout", PG_COMMAND_TIMEOUT_S)
    options.update(kwargs)
    return create_async_engine(parsed, connect_args=connect_args, **options)


def sync_sqlite_engine(engine: AsyncEngine) -> Engine:
    """A plain (pysqlite) engine on the same SQLite file, with the same pragmas, for work that
    runs whole in one worker thread (the ledger's batches) instead of hopping per statement."""
    url = engine.url.set(drivername="sqlite")
    sync = sa_create_engine(
        url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}
    )
    event.listen(sync, "connect", _sqlite_on_connect)
    return sync


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # busy_timeout first: switching to WAL needs a lock another process may briefly hold.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
