"""The balance a receipt shows: what this process last saw commit, read again when older than
`BALANCE_CACHE_SECONDS` (a receipt's balance, not an accounting read: the admin API reads
`AccountStore.balance`, which is exact).

One read per account at a time (`core.read_through`): when an account's figure expires under
load, every call in flight would otherwise open a connection of its own for the same row (on
SQLite, aiosqlite's thread per connection beyond the pool's, made and ended each time: a
stampede once a second, seen as a dozen short-lived threads under `wrk -c32`).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.errors import NotFound
from toolwire.core.read_through import ReadThrough
from toolwire.store.ledger_sql import READ

BALANCE_CACHE_SECONDS = 1.0
BALANCE_CACHE_SIZE = 10_000
"""Accounts remembered at most (the oldest entry makes room)."""


class BalanceCache:
    """Balances by account id (micro-credits), with their age."""

    def __init__(self, engine: AsyncEngine, *, ttl: float = BALANCE_CACHE_SECONDS) -> None:
        self._engine = engine
        self._known: ReadThrough[str, int] = ReadThrough(self._read, ttl, size=BALANCE_CACHE_SIZE)

    async def get(self, account_id: str) -> int:
        """The account's balance: remembered, or read (`NotFound` for no such account)."""
        return await self._known.get(account_id)

    def remember(self, account_id: str, balance: int) -> None:
        """`balance` is the account's as of a commit this process just made or read."""
        self._known.put(account_id, balance)

    def forget(self, account_id: str) -> None:
        """The account's balance changed in a way this process did not see the result of."""
        self._known.forget(account_id)

    async def _read(self, account_id: str) -> int:
        async with self._engine.connect() as conn:
            value = (await conn.execute(READ, {"b_acc": account_id})).scalar()
        if value is None:
            raise NotFound("no such account", details={"account_id": account_id})
        return int(value)
