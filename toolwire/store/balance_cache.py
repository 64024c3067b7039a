"""The balance a receipt shows: what this process last saw commit, read again when older than
`BALANCE_CACHE_SECONDS` (a receipt's balance, not an accounting read: the admin API reads
`AccountStore.balance`, which is exact).

One read per account at a time (`store.single_flight`): when an account's figure expires under
load, every call in flight would otherwise open a connection of its own for the same row (on
SQLite, aiosqlite's thread per connection beyond the pool's, made and ended each time: a
stampede once a second, seen as a dozen short-lived threads under `wrk -c32`).
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.errors import NotFound
from toolwire.store.ledger_sql import READ
from toolwire.store.single_flight import SingleFlight

BALANCE_CACHE_SECONDS = 1.0
BALANCE_CACHE_SIZE = 10_000
"""Accounts remembered at most (the oldest entry makes room)."""


class BalanceCache:
    """Balances by account id (micro-credits), with their age."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._known: dict[str, tuple[int, float]] = {}
        self._reading: SingleFlight[str, int] = SingleFlight()

    async def get(self, account_id: str) -> int:
        """The account's balance: remembered, or read (`NotFound` for no such account)."""
        known = self._known.get(account_id)
        if known is not None and time.monotonic() - known[1] < BALANCE_CACHE_SECONDS:
            return known[0]
        return await self._reading.run(account_id, lambda: self._read(account_id))

    def remember(self, account_id: str, balance: int) -> None:
        """`balance` is the account's as of a commit this process just made or read."""
        known = self._known
        if len(known) >= BALANCE_CACHE_SIZE and account_id not in known:
            known.pop(next(iter(known)))
        known[account_id] = (balance, time.monotonic())

    def forget(self, account_id: str) -> None:
        """The account's balance changed in a way this process did not see the result of."""
        self._known.pop(account_id, None)

    async def _read(self, account_id: str) -> int:
        async with self._engine.connect() as conn:
            value = (await conn.execute(READ, {"b_acc": account_id})).scalar()
        if value is None:
            raise NotFound("no such account", details={"account_id": account_id})
        self.remember(account_id, int(value))
        return int(value)
