"""A real auth-store failure: a PostgreSQL-backed gateway whose database stops accepting
connections while the gateway runs (`ALLOW_CONNECTIONS false`, its sessions terminated), the way
a database that went away looks to the gateway. Used by test_door_matrix_store_down.py.

The maintenance connection goes to the machine's PostgreSQL (127.0.0.1:5432, database `test`,
or TOOLWIRE_TEST_PG); without it the tests skip, and fail when CI=true.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg  # type: ignore[import-untyped]
import pytest
from anyio.from_thread import BlockingPortal

PG = "127.0.0.1:5432"
CANDIDATES = [f"postgresql://{user}@{PG}/test" for user in ("postgres", "root")]


def maintenance_dsn(portal: BlockingPortal) -> str:
    """A DSN that reaches PostgreSQL's `test` database, or a skip (a failure when CI=true)."""
    given = os.environ.get("TOOLWIRE_TEST_PG")
    errors = []
    for dsn in [given] if given else CANDIDATES:
        try:
            portal.call(_probe, dsn)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            errors.append(f"{dsn}: {exc}")
            continue
        return dsn
    message = f"PostgreSQL not reachable at {given or PG}: {'; '.join(errors)}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def _probe(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    await conn.close()


async def _execute(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def fresh_database(portal: BlockingPortal, dsn: str) -> Iterator[str]:
    """A new empty database; yields the gateway's URL for it. Dropped afterwards."""
    name = f"tw_matrix_{secrets.token_hex(6)}"
    portal.call(_execute, dsn, f'CREATE DATABASE "{name}"')
    try:
        yield dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    finally:
        portal.call(_execute, dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def unreachable(portal: BlockingPortal, dsn: str, url: str) -> Iterator[None]:
    """While inside: the database of `url` refuses new connections and has none open."""
    name = url.rsplit("/", 1)[1]
    portal.call(
        _execute,
        dsn,
        f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    )
    try:
        yield
    finally:
        portal.call(_execute, dsn, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
