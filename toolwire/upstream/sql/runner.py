"""Running a guarded query, read-only by construction, on SQLite or PostgreSQL.

- SQLite: the file is opened through a `mode=ro` URI (the OS-level handle cannot write), with
  `PRAGMA query_only` on as well; a progress handler aborts the statement at its deadline.
- PostgreSQL: each query runs in a `READ ONLY` transaction with `SET LOCAL statement_timeout`,
  and the transaction is always rolled back. asyncpg's extended protocol runs one statement only.

What it is: `SqliteRunner` and `PostgresRunner` with the same two methods — `columns()` to
introspect the tables (for `describe` and for resolving `*`), `fetch(sql, limit)` to run a query
the guard produced. What it is not: the guard (`guard.py`); nothing here parses SQL.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]

from toolwire.core.errors import UpstreamError, UpstreamTimeout

T = TypeVar("T")

Columns = dict[str, dict[str, str]]
"""table -> column -> declared type."""


class Runner(Protocol):
    dialect: str

    async def columns(self, tables: Sequence[str], creds: Mapping[str, str]) -> Columns: ...

    async def fetch(
        self, sql: str, creds: Mapping[str, str]
    ) -> tuple[list[str], list[list[Any]]]: ...

    async def aclose(self) -> None: ...


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    return str(value)


class SqliteRunner:
    dialect = "sqlite"

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise UpstreamError("the database is unavailable", details={"reason": "unreachable"})
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    async def columns(self, tables: Sequence[str], creds: Mapping[str, str]) -> Columns:
        def run() -> Columns:
            conn = self._connect()
            try:
                found: Columns = {}
                for table in tables:
                    rows = conn.execute("SELECT name, type FROM pragma_table_info(?)", (table,))
                    cols = {name: (kind or "ANY") for name, kind in rows}
                    if cols:
                        found[table] = cols
                return found
            finally:
                conn.close()

        return await asyncio.to_thread(run)

    async def aclose(self) -> None:
        """Nothing to close: each query opens its own read-only handle."""

    async def fetch(self, sql: str, creds: Mapping[str, str]) -> tuple[list[str], list[list[Any]]]:
        deadline = time.monotonic() + self.timeout

        def run() -> tuple[list[str], list[list[Any]]]:
            conn = self._connect()
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            try:
                cursor = conn.execute(sql)
                names = [d[0] for d in cursor.description or ()]
                return names, [[jsonable(v) for v in row] for row in cursor.fetchall()]
            finally:
                conn.close()

        try:
            return await asyncio.to_thread(run)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise UpstreamTimeout(
                    "the query ran past its time limit", details={"reason": "timeout"}
                ) from None
            raise UpstreamError(
                "the database refused the query", details={"reason": "query_failed"}
            ) from None
        except sqlite3.Error:
            raise UpstreamError(
                "the database refused the query", details={"reason": "query_failed"}
            ) from None


class PostgresRunner:
    dialect = "postgres"

    def __init__(self, dsn: str, timeout: float, max_connections: int = 5) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.max_connections = max_connections
        self._pool: Any = None
        self._pool_password: str | None = None
        self._lock = asyncio.Lock()

    async def _acquire_pool(self, creds: Mapping[str, str]) -> Any:
        password = creds.get("password")
        async with self._lock:
            if self._pool is None or password != self._pool_password:
                if self._pool is not None:
                    await self._pool.close()
                try:
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        password=password,
                        min_size=0,
                        max_size=self.max_connections,
                        timeout=self.timeout,
                    )
                except (OSError, asyncpg.PostgresError, TimeoutError):
                    self._pool = None
                    raise UpstreamError(
                        "the database is unreachable", details={"reason": "unreachable"}
                    ) from None
                self._pool_password = password
            return self._pool

    async def _run(self, creds: Mapping[str, str], work: Callable[[Any], Awaitable[T]]) -> T:
        pool = await self._acquire_pool(creds)
        try:
            async with pool.acquire() as conn:
                tx = conn.transaction(readonly=True)
                await tx.start()
                try:
                    ms = max(1, int(self.timeout * 1000))
                    await conn.execute(f"SET LOCAL statement_timeout = {ms}")
                    return await work(conn)
                finally:
                    await tx.rollback()
        except asyncpg.QueryCanceledError:
            raise UpstreamTimeout(
                "the query ran past its time limit", details={"reason": "timeout"}
            ) from None
        except asyncpg.PostgresError:
            raise UpstreamError(
                "the database refused the query", details={"reason": "query_failed"}
            ) from None
        except (OSError, TimeoutError):
            raise UpstreamError(
                "the database is unreachable", details={"reason": "unreachable"}
            ) from None

    async def columns(self, tables: Sequence[str], creds: Mapping[str, str]) -> Columns:
        query = (
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY($1::text[]) "
            "ORDER BY table_name, ordinal_position"
        )

        async def work(conn: Any) -> list[Any]:
            return list(await conn.fetch(query, list(tables)))

        rows = await self._run(creds, work)
        found: Columns = {}
        for table, column, kind in rows:
            found.setdefault(table, {})[column] = kind
        return found

    async def fetch(self, sql: str, creds: Mapping[str, str]) -> tuple[list[str], list[list[Any]]]:
        async def work(conn: Any) -> tuple[list[str], list[list[Any]]]:
            statement = await conn.prepare(sql)
            names = [attribute.name for attribute in statement.get_attributes()]
            rows = await statement.fetch()
            return names, [[jsonable(v) for v in row.values()] for row in rows]

        return await self._run(creds, work)

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
