"""The store's boundary: a database that cannot be reached (PostgreSQL down, refused, reset,
a timeout; SQLite unable to open its file) reaches callers as `Unavailable`, logged by type name
only; a constraint violation, bad data or a programming error keeps its own error."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import _async_url, _maintenance_dsn
from tests.store.test_ledger import new_principal
from toolwire.core.errors import InsufficientCredits, Internal, Unavailable
from toolwire.core.model import Principal
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store
from toolwire.store.accounts import AccountStore
from toolwire.store.boundary import guard, translate
from toolwire.store.db import create_engine, unreachable
from toolwire.store.ledger import SqlLedger


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def pg_url() -> str:
    """An async URL of the machine's PostgreSQL maintenance database (read-only use here)."""
    dsn = await _maintenance_dsn()
    return _async_url(dsn, dsn.rsplit("/", 1)[1])


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts TCP connections and never says a word (a hung database)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def _dispose_after(engine: AsyncEngine, coro: object) -> BaseException:
    try:
        await coro  # type: ignore[misc]
    except BaseException as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError("no error")


async def test_postgresql_refusing_connections_is_unavailable_and_logs_no_dsn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql+asyncpg://secretuser:hunter2@127.0.0.1:{closed_port()}/test"
    engine = create_engine(url)
    accounts = guard(AccountStore(engine), "accounts")
    with caplog.at_level(logging.WARNING, "toolwire.store"):
        error = await _dispose_after(engine, accounts.list_accounts())
    assert isinstance(error, Unavailable), repr(error)
    assert error.code == "UNAVAILABLE" and error.details == {"retry_after_s": 5}
    assert error.__cause__ is None and error.__suppress_context__
    logged = caplog.text
    assert "accounts.list_accounts: database unreachable (ConnectionRefusedError)" in logged
    assert "hunter2" not in logged and "secretuser" not in logged


async def test_the_ledgers_failed_batch_on_a_down_database_is_unavailable(pg_url: str) -> None:
    engine = create_engine(pg_url.rsplit("@", 1)[0] + f"@127.0.0.1:{closed_port()}/test")
    inner = SqlLedger(engine)
    ledger = guard(inner, "ledger")
    principal = Principal("k", "a", ScopeSet(["*"]))
    try:
        with pytest.raises(Unavailable):
            await ledger.reserve(principal, 10, request_id="r", tool="t", operation="o")
    finally:
        await inner.close()
        await engine.dispose()


async def test_sqlite_unable_to_open_its_file_is_unavailable(tmp_path: Path) -> None:
    # The ledger's SQLite writer (pysqlite in its own thread) on a directory that is gone.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'removed' / 'toolwire.db'}")
    inner = SqlLedger(engine)
    principal = Principal("k", "a", ScopeSet(["*"]))
    try:
        with pytest.raises(Unavailable):
            await guard(inner, "ledger").reserve(
                principal, 10, request_id="r", tool="t", operation="o"
            )
    finally:
        await inner.close()
        await engine.dispose()


async def test_sqlite_locked_by_another_process_past_the_busy_timeout_is_unavailable(
    tmp_path: Path,
) -> None:
    # Another connection holds the write lock; the store's busy timeout is 0.2 s (the
    # `TOOLWIRE_DB_BUSY_TIMEOUT_S` setting), so the reservation fails with SQLITE_BUSY then.
    path = tmp_path / "toolwire.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}", busy_timeout_s=0.2)
    try:
        principal = await new_principal(store, 100)
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(Unavailable):
                await store.ledger.reserve(principal, 10, request_id="r", tool="t", operation="o")
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        # the lock gone, the same store serves again
        await store.ledger.reserve(principal, 10, request_id="r", tool="t", operation="o")
    finally:
        await store.close()


async def test_a_connect_that_hangs_times_out_as_unavailable(silent_server: int) -> None:
    engine = create_engine(
        f"postgresql+asyncpg://u@127.0.0.1:{silent_server}/test", connect_timeout_s=0.3
    )
    error = await _dispose_after(engine, guard(AccountStore(engine), "a").list_accounts())
    assert isinstance(error, Unavailable), repr(error)


async def test_a_statement_past_its_timeout_is_unavailable(pg_url: str) -> None:
    engine = create_engine(pg_url, statement_timeout_s=0.3)

    async def slow() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(5)"))

    error = await _dispose_after(engine, slow())
    assert unreachable(error) and isinstance(translate(error), Unavailable), repr(error)


async def test_no_free_pooled_connection_in_time_is_unavailable(pg_url: str) -> None:
    engine = create_engine(pg_url, pool_timeout_s=0.3, pool_size=1, max_overflow=0)

    async def starved() -> None:
        async with engine.connect(), engine.connect():
            pass

    error = await _dispose_after(engine, starved())
    assert unreachable(error), repr(error)


async def test_a_terminated_backend_is_unavailable(pg_url: str) -> None:
    engine = create_engine(pg_url)

    async def terminated() -> None:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
            async with engine.connect() as other:
                await other.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))
            await conn.execute(text("SELECT 1"))

    error = await _dispose_after(engine, terminated())
    assert unreachable(error), repr(error)


async def test_constraint_data_and_programming_errors_are_not_an_outage(store: Store) -> None:
    principal = await new_principal(store, 100)
    engine = store.engine
    statements = {
        "integrity": "INSERT INTO accounts (id, name, balance, created_at) "
        f"SELECT id, name, balance, created_at FROM accounts WHERE id = '{principal.account_id}'",
        "programming": "SELECT * FROM no_such_table",
        "foreign key": "INSERT INTO api_keys (id, account_id) VALUES ('k', 'no-such-account')",
    }
    for name, sql in statements.items():
        async with engine.connect() as conn:
            with pytest.raises(Exception) as caught:
                await conn.execute(text(sql))
        assert not unreachable(caught.value), (name, repr(caught.value))
        assert translate(caught.value) is None, name
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            with pytest.raises(Exception) as caught:
                await conn.execute(
                    text("SELECT * FROM accounts WHERE balance = :b"), {"b": "not a number"}
                )
        assert not unreachable(caught.value), repr(caught.value)


async def test_decisions_pass_the_boundary_untouched(store: Store) -> None:
    principal = await new_principal(store, 10)
    with pytest.raises(InsufficientCredits):
        await store.ledger.reserve(principal, 1_000, request_id="r", tool="t", operation="o")
    plain = Internal("a bug, not an outage")
    assert translate(plain) is None
    assert store.ledger.stats is store.ledger._inner.stats  # type: ignore[attr-defined]
