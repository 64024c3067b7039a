"""Schema migrations with Alembic, run programmatically: `await migrate(url)` upgrades to head.

What it is: the Alembic script folder (env.py, script.py.mako, versions/) shipped inside the
package, and `migrate()`, which builds the Alembic `Config` in code (no alembic.ini on disk) and
upgrades under a database-wide lock, so it is safe to call at every start and from several
processes at once: PostgreSQL takes a transaction-scoped advisory lock, SQLite a write lock with
`BEGIN IMMEDIATE` (others wait on the busy timeout). The whole upgrade is one transaction on both
backends. What it is not: a schema definition (see `toolwire.store.tables`).

For hand use (`alembic revision`, `alembic history`) point `alembic -c` at any ini file whose
`script_location` is this folder, or call `alembic_config(url)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from toolwire.store.db import create_engine, parse_url

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent
"""The folder holding env.py and versions/."""

LOCK_KEY = int.from_bytes(b"toolwire", "big")
"""The PostgreSQL advisory lock id held while migrating (fits a signed 64-bit integer)."""

HEAD = "head"
SCHEMA_HEAD = "0007"
"""The newest script in versions/: a restart whose database records it skips Alembic (and its
import). A new migration moves it (tests/store/test_migrations.py checks it is Alembic's head)."""

_SQLITE_ATTEMPTS = 3


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` for this package's scripts, built in code."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(url: str, revision: str = HEAD) -> None:
    """Upgrade the database at `url` to `revision` (head by default); a no-op when already there."""
    parsed = parse_url(url)
    sqlite = parsed.drivername.startswith("sqlite")
    if sqlite:
        engine = create_engine(parsed, poolclass=NullPool)
    else:  # waiting for another process's migration is not a stuck statement
        engine = create_engine(parsed, poolclass=NullPool, connect_args={"command_timeout": None})
    try:
        if revision == HEAD and await _at_head(engine):
            return  # nothing to do, and Alembic (~11 MB) is not even imported
    except BaseException:
        await engine.dispose()
        raise
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_manual_transactions)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    config = alembic_config()
    try:
        attempts = _SQLITE_ATTEMPTS if sqlite else 1
        for attempt in range(1, attempts + 1):
            try:
                async with engine.connect() as connection:
                    await connection.run_sync(_upgrade, config, revision, sqlite)
                return
            except OperationalError as exc:
                if attempt == attempts or "locked" not in str(exc).lower():
                    raise
    finally:
        await engine.dispose()


async def _at_head(engine: AsyncEngine) -> bool:
    """Whether the database already records exactly the scripts' head (one read; any doubt,
    such as no version table yet, answers False and the upgrade runs as always)."""
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            versions: list[str] = list(rows.scalars().all())
    except Exception:
        return False
    return versions == [SCHEMA_HEAD]


def _upgrade(connection: Connection, config: Config, revision: str, sqlite: bool) -> None:
    from alembic import command

    with connection.begin():
        if not sqlite:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, revision)
        finally:
            config.attributes.pop("connection", None)


def _sqlite_manual_transactions(dbapi_connection: object, _record: object) -> None:
    # Let SQLAlchemy's "begin" event below emit BEGIN instead of the driver's implicit one, so
    # the whole upgrade (DDL included) is one transaction that holds the write lock from the start.
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]


def _sqlite_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
