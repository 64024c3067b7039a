"""Read a gateway's books straight from its database, the way an auditor would: balances, ledger
sums, and reservations left open. Used by billing tests after the gateway under test stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from toolwire.store.db import create_engine


@dataclass(frozen=True)
class Books:
    balance: int
    ledger_sum: int
    reserves: int
    charges: int
    releases: int
    open_reservations: int


def database_url(db_url: str, data_dir: Path) -> str:
    """The URL a test gateway used: the PostgreSQL one given, or SQLite in its data dir."""
    if db_url.startswith("postgresql"):
        return db_url
    return f"sqlite+aiosqlite:///{(data_dir / 'toolwire.db').resolve()}"


async def books(url: str, account_id: str) -> Books:
    engine = create_engine(url, poolclass=NullPool)
    params = {"a": account_id}
    try:
        async with engine.connect() as conn:

            async def one(sql: str) -> int:
                return int((await conn.execute(text(sql), params)).scalar() or 0)

            return Books(
                balance=await one("SELECT balance FROM accounts WHERE id = :a"),
                ledger_sum=await one(
                    "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account_id = :a"
                ),
                reserves=await one(
                    "SELECT COUNT(*) FROM ledger_entries WHERE account_id = :a AND kind = 'reserve'"
                ),
                charges=await one(
                    "SELECT COUNT(*) FROM ledger_entries WHERE account_id = :a AND kind = 'charge'"
                ),
                releases=await one(
                    "SELECT COUNT(*) FROM ledger_entries WHERE account_id = :a AND kind = 'release'"
                ),
                open_reservations=await one(
                    "SELECT COUNT(*) FROM ledger_entries r WHERE r.account_id = :a "
                    "AND r.kind = 'reserve' AND NOT EXISTS (SELECT 1 FROM ledger_entries s "
                    "WHERE s.reservation_id = r.reservation_id AND s.kind IN ('charge', 'release'))"
                ),
            )
    finally:
        await engine.dispose()


async def scalar(url: str, sql: str, **params: object) -> object:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()
    finally:
        await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Wait until `check()` holds, asking again every 20 ms; fail after `within` seconds. For
    conditions another process makes true (a reservation held, an audit batch written), where
    there is no event to wait on."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def charged_requests(url: str, account_id: str) -> dict[str, int]:
    """request id -> micro-credits charged, of every charged reservation of the account."""
    engine = create_engine(url, poolclass=NullPool)
    sql = (
        "SELECT r.request_id, c.charged FROM ledger_entries r JOIN ledger_entries c "
        "ON c.reservation_id = r.reservation_id AND c.kind = 'charge' "
        "WHERE r.account_id = :a AND r.kind = 'reserve'"
    )
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(sql), {"a": account_id})).all()
            return {str(row[0]): int(row[1]) for row in rows}
    finally:
        await engine.dispose()
