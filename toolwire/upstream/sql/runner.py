"""Running a guarded query, read-only by construction, on SQLite or PostgreSQL.

- SQLite: the file is opened through a `mode=ro` URI (the OS-level handle cannot write), with
  `PRAGMA query_only` on as well; a progress handler aborts the statement at its deadline, and
  `SQLITE_LIMIT_LENGTH` caps every string or blob the engine builds (in this process) at the
  result's byte cap, so one `group_concat` over a cross join cannot grow the gateway's memory.
- PostgreSQL: each query runs in a `READ ONLY` transaction with `SET LOCAL statement_timeout`,
  `search_path = pg_catalog` (the guard names every table with its schema, so only built-in
  functions resolve) and `standard_conforming_strings = on` (string literals mean what the guard
  parsed), and the transaction is always rolled back. asyncpg's extended protocol runs
  one statement only; rows are read through a server-side cursor, a batch at a time.

Both stream: rows are converted and measured (their JSON size) as they arrive, and the query is
stopped with `UpstreamError` reason `too_large` (`details.limit_bytes`) as soon as the total, or
the guard's per-value flag (`envelope.OVERSIZE_COLUMN`), passes the cap. What it is not: the
guard (`guard.py`); nothing here parses SQL.
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
import orjson

from toolwire.core.errors import UpstreamError, UpstreamTimeout
from toolwire.upstream import text
from toolwire.upstream.sql.envelope import OVERSIZE_COLUMN

T = TypeVar("T")

BATCH_ROWS = 256
"""Rows read from the database at a time."""

Result = tuple[list[str], list[list[Any]]]
"""Column names, then rows of JSON-ready values."""

Columns = dict[str, dict[str, str]]
"""table -> column -> declared type."""


class Runner(Protocol):
    dialect: str

    async def columns(self, tables: Sequence[str], creds: Mapping[str, str]) -> Columns:
        """`"table"` or `"schema.table"` -> column -> type, for the tables that exist."""
        ...

    async def schema(self, creds: Mapping[str, str]) -> str:
        """The schema an unqualified table name resolves to."""
        ...

    async def fetch(self, sql: str, creds: Mapping[str, str], max_bytes: int) -> Result: ...

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
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    return str(value)


def too_large(limit: int) -> UpstreamError:
    """The refusal of a result over `limit` bytes (as JSON), uncharged like any upstream error."""
    return UpstreamError(
        f"the query result is larger than this scope's limit of {limit} bytes; "
        "select fewer rows or columns, or aggregate",
        details={"reason": "too_large", "limit_bytes": limit},
    )


class Collector:
    """Rows as they arrive: converted, measured, and refused once over `max_bytes` in total.

    When the last column is the guard's `OVERSIZE_COLUMN` flag, it is checked and dropped.
    """

    def __init__(self, names: Sequence[str], max_bytes: int) -> None:
        self.flagged = bool(names) and names[-1] == OVERSIZE_COLUMN
        self.names = list(names[:-1] if self.flagged else names)
        self.max_bytes = max_bytes
        self.size = 0
        self.rows: list[list[Any]] = []

    def add(self, values: Sequence[Any]) -> None:
        if self.flagged:
            if values[-1]:
                raise too_large(self.max_bytes)
            values = values[:-1]
        row = [jsonable(v) for v in values]
        self.size += len(orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS)) + 1
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.rows.append(row)

    def result(self) -> Result:
        return self.names, self.rows


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
        # SQLite stores whatever bytes it was given as TEXT; invalid UTF-8 becomes U+FFFD, as in
        # an HTTP upstream's answer, instead of failing the whole query
        conn.text_factory = text.decode
        return conn

    async def columns(self, tables: Sequence[str], creds: Mapping[str, str]) -> Columns:
        def run() -> Columns:
            conn = self._connect()
            try:
                found: Columns = {}
                for table in tables:
                    schema, _, name = table.rpartition(".")
                    rows = conn.execute(
                        "SELECT name, type FROM pragma_table_info(?, ?)", (name, schema or "main")
                    )
                    cols = {column: (kind or "ANY") for column, kind in rows}
                    if cols:
                        found[table] = cols
                return found
            finally:
                conn.close()

        return await asyncio.to_thread(run)

    async def schema(self, creds: Mapping[str, str]) -> str:
        return "main"

    async def aclose(self) -> None:
        """Nothing to close: each query opens its own read-only handle."""

    async def fetch(self, sql: str, creds: Mapping[str, str], max_bytes: int) -> Result:
        deadline = time.monotonic() + self.timeout

        def run() -> Result:
            conn = self._connect()
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(1, max_bytes))
            try:
                cursor = conn.execute(sql)
                rows = Collector([d[0] for d in cursor.description or ()], max_bytes)
                while batch := cursor.fetchmany(BATCH_ROWS):
                    for row in batch:
                        rows.add(row)
                return rows.result()
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
        except sqlite3.DataError as exc:
            if "too big" in str(exc):
                raise too_large(max_bytes) from None
            raise UpstreamError(
                "the database refused the query", details={"reason": "query_failed"}
            ) from None
        except sqlite3.Error:
            raise UpstreamError(
                "the database refused the query", details={"reason": "query_failed"}
            ) from None


_PINNED = (
    "SET LOCAL search_path = pg_catalog",
    "SET LOCAL standard_conforming_strings = on",
)
"""Settings a guarded query runs under: only built-in functions resolve (every table is named
with its schema), and `'a\\'` is the string the guard parsed, whatever the database's default."""


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

    async def _run(
        self,
        creds: Mapping[str, str],
        work: Callable[[Any], Awaitable[T]],
        settings: Sequence[str] = (),
    ) -> T:
        pool = await self._acquire_pool(creds)
        try:
            async with pool.acquire() as conn:
                tx = conn.transaction(readonly=True)
                await tx.start()
                try:
                    ms = max(1, int(self.timeout * 1000))
                    await conn.execute(f"SET LOCAL statement_timeout = {ms}")
                    for setting in settings:
                        await conn.execute(setting)
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
            "SELECT t.key, c.column_name, c.data_type "
            "FROM unnest($1::text[], $2::text[], $3::text[]) AS t(key, sch, name) "
            "JOIN information_schema.columns c "
            "ON c.table_schema = coalesce(t.sch, current_schema()) AND c.table_name = t.name "
            "ORDER BY t.key, c.ordinal_position"
        )
        parts = [table.rpartition(".") for table in tables]
        schemas = [schema or None for schema, _, _ in parts]
        names = [name for _, _, name in parts]

        async def work(conn: Any) -> list[Any]:
            return list(await conn.fetch(query, list(tables), schemas, names))

        rows = await self._run(creds, work)
        found: Columns = {}
        for table, column, kind in rows:
            found.setdefault(table, {})[column] = kind
        return found

    async def fetch(self, sql: str, creds: Mapping[str, str], max_bytes: int) -> Result:
        async def work(conn: Any) -> Result:
            statement = await conn.prepare(sql)
            rows = Collector([a.name for a in statement.get_attributes()], max_bytes)
            async for record in statement.cursor(prefetch=BATCH_ROWS):
                rows.add(tuple(record.values()))
            return rows.result()

        return await self._run(creds, work, _PINNED)

    async def schema(self, creds: Mapping[str, str]) -> str:
        async def work(conn: Any) -> str:
            return str(await conn.fetchval("SELECT current_schema()"))

        return await self._run(creds, work)

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
