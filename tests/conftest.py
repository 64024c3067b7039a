"""Fixtures for every suite.

`db_url` runs a test over SQLite and PostgreSQL; `store` is a `Store` opened on it.
SQLite gets a file in the test's tmp_path;
PostgreSQL gets a fresh database (`tw_test_<random>`) created through a maintenance connection to
the `test` database on 127.0.0.1:5432 and dropped afterwards, so tests never see each other's
rows. Set TOOLWIRE_TEST_PG to another maintenance DSN if needed. When PostgreSQL is unreachable
its half of the tests is skipped, unless CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.support import workers
from toolwire.store import Store

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_MAINTENANCE_DB = "test"
PG_USERS = ("postgres", "root")

_pg_admin: dict[str, str] = {}  # "dsn" -> a maintenance DSN that worked, or "error" -> why not


def pytest_configure(config: pytest.Config) -> None:
    workers.configure_worker()  # a parallel run's worker: its own ports (tests/support/workers.py)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> workers.LongestFirst | None:
    """Parallel runs (`scripts/test`, `--dist load` or `loadgroup`): modules and `xdist_group`s
    as units, longest first. Another `--dist` mode keeps xdist's own scheduler."""
    if config.getoption("dist") not in ("load", "loadgroup"):
        return None
    return workers.make_scheduler(config, log)


def database_urls() -> list[Any]:
    """The backends every storage test runs over, as pytest params."""
    return [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres")]


async def _maintenance_dsn() -> str:
    if "dsn" in _pg_admin:
        return _pg_admin["dsn"]
    if "error" not in _pg_admin:
        given = os.environ.get("TOOLWIRE_TEST_PG")
        candidates = (
            [given]
            if given
            else [f"postgresql://{u}@{PG_HOST}:{PG_PORT}/{PG_MAINTENANCE_DB}" for u in PG_USERS]
        )
        errors = []
        for dsn in candidates:
            try:
                conn = await asyncpg.connect(dsn, timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                errors.append(f"{dsn}: {exc}")
                continue
            await conn.close()
            _pg_admin["dsn"] = dsn
            return dsn
        _pg_admin["error"] = "; ".join(errors)
    where = os.environ.get("TOOLWIRE_TEST_PG") or f"{PG_HOST}:{PG_PORT}"
    message = f"PostgreSQL not reachable at {where}: {_pg_admin['error']}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _async_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


@pytest.fixture(params=database_urls())
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An async SQLAlchemy URL of an empty database of the parametrized backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'toolwire.db'}"
        return
    dsn = await _maintenance_dsn()
    name = f"tw_test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _async_url(dsn, name)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A `Store` opened (migrated) on `db_url`'s empty database, closed afterwards."""
    opened = await Store.open(db_url)
    try:
        yield opened
    finally:
        await opened.close()
