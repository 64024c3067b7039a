"""Small helpers shared by the store modules: time, ids, and the dialect-specific INSERT.

Not part of the public API.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.records import iso

__all__ = [
    "ACCOUNT_PREFIX",
    "is_positive_int",
    "iso",
    "sqlite_timestamp",
    "upsert_insert",
    "utcnow",
]

ACCOUNT_PREFIX = "acc_"


def utcnow() -> datetime:
    return datetime.now(UTC)


def upsert_insert(engine: AsyncEngine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT construct, which offers `on_conflict_do_nothing`."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def sqlite_timestamp(value: datetime) -> str:
    """An aware datetime as SQLAlchemy's SQLite DATETIME stores it (naive UTC, microseconds), for
    rows written on the raw sqlite3 connection and read back through SQLAlchemy."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
