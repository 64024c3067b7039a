"""Schema migrations: idempotent, safe to run at once from several tasks and processes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.pool import NullPool

import toolwire
from toolwire.store.db import create_engine
from toolwire.store.migrations import SCHEMA_HEAD, SCRIPT_LOCATION, alembic_config, migrate
from toolwire.store.tables import metadata

TABLES = {"accounts", "api_keys", "ledger_entries", "audit_events", "system_meta", "secrets"}
HEAD_REVISION = "0007"


def test_the_schema_head_constant_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert SCHEMA_HEAD == head == HEAD_REVISION


async def _version_and_tables(url: str) -> tuple[list[str], set[str]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return [v[0] for v in versions], names


async def test_migrating_twice_is_a_no_op(db_url: str) -> None:
    await migrate(db_url)
    await migrate(db_url)
    versions, names = await _version_and_tables(db_url)
    assert versions == [HEAD_REVISION]
    assert names >= TABLES


async def test_two_tasks_migrating_at_once_both_succeed(db_url: str) -> None:
    async with asyncio.timeout(60):
        await asyncio.gather(migrate(db_url), migrate(db_url), migrate(db_url))
    versions, names = await _version_and_tables(db_url)
    assert versions == [HEAD_REVISION]
    assert names >= TABLES


async def test_two_processes_migrating_at_once_both_succeed(db_url: str) -> None:
    code = "import asyncio, sys; from toolwire.store.migrations import migrate; "
    code += "asyncio.run(migrate(sys.argv[1]))"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, db_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    async with asyncio.timeout(60):
        results = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in results]
    versions, _ = await _version_and_tables(db_url)
    assert versions == [HEAD_REVISION]


async def test_the_migrated_schema_matches_the_tables_module(db_url: str) -> None:
    await migrate(db_url)

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = create_engine(db_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


def test_the_migration_scripts_ship_inside_the_package() -> None:
    package = Path(toolwire.__file__).resolve().parent
    assert SCRIPT_LOCATION.is_relative_to(package)
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py"):
        assert (SCRIPT_LOCATION / name).is_file(), name
