"""Engine construction: the SQLite pragmas, PostgreSQL pool settings, and URL checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from toolwire.store.db import create_engine


async def test_sqlite_connections_use_wal_and_enforce_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            pragma: dict[str, Any] = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert pragma["journal_mode"] == "wal"
    assert pragma["synchronous"] == 1  # NORMAL
    assert pragma["foreign_keys"] == 1
    assert pragma["busy_timeout"] >= 1000


async def test_postgres_engines_pool_about_ten_connections_without_pre_ping() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    try:
        assert engine.pool.size() == 10  # type: ignore[attr-defined]
        assert engine.pool._pre_ping is False
        assert engine.url.query["prepared_statement_cache_size"] == "256"
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["sqlite:///x.db", "postgresql://h/db", "mysql+aiomysql://h/db", "sqlite+aiosqlite://"],
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        create_engine(url)
