"""The receipt's balance (`toolwire.store.balance_cache`): remembered for a second, then read
again, once per account however many calls ask at that moment (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from tests.store.test_ledger import new_principal
from toolwire.core.errors import NotFound
from toolwire.store import Store
from toolwire.store.balance_cache import BalanceCache


def _count_reads(store: Store) -> list[str]:
    """Every balance read the engine runs from now on (their statements)."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT ACCOUNTS.BALANCE"):
            seen.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", before)
    return seen


async def test_many_calls_at_once_share_one_read(store: Store) -> None:
    principal = await new_principal(store, 5_000)
    cache = BalanceCache(store.engine)
    reads = _count_reads(store)
    got = await asyncio.gather(*(cache.get(principal.account_id) for _ in range(50)))
    assert got == [5_000] * 50
    assert len(reads) == 1
    assert await cache.get(principal.account_id) == 5_000  # remembered: no read
    assert len(reads) == 1


async def test_an_expired_figure_is_read_again(store: Store) -> None:
    principal = await new_principal(store, 7_000)
    cache = BalanceCache(store.engine)
    cache.remember(principal.account_id, 1)
    assert await cache.get(principal.account_id) == 1
    expired = BalanceCache(store.engine, ttl=0.0)
    expired.remember(principal.account_id, 1)
    assert await expired.get(principal.account_id) == 7_000


async def test_a_commit_seen_while_a_read_is_in_flight_wins(store: Store) -> None:
    principal = await new_principal(store, 8_000)
    cache = BalanceCache(store.engine)
    reading = asyncio.ensure_future(cache.get(principal.account_id))
    await asyncio.sleep(0)  # the read has started
    cache.remember(principal.account_id, 42)  # the ledger committed meanwhile
    assert await reading == 8_000  # what it read goes to its own caller...
    assert await cache.get(principal.account_id) == 42  # ...but is not kept over the commit


async def test_a_caller_that_leaves_does_not_cancel_the_shared_read(store: Store) -> None:
    principal = await new_principal(store, 9_000)
    cache = BalanceCache(store.engine)
    first = asyncio.ensure_future(cache.get(principal.account_id))
    second = asyncio.ensure_future(cache.get(principal.account_id))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == 9_000
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_an_unknown_account_is_not_found_for_every_caller_and_not_remembered(
    store: Store,
) -> None:
    cache = BalanceCache(store.engine)
    results = await asyncio.gather(
        *(cache.get("acc_missing") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, NotFound) for r in results)
    with pytest.raises(NotFound):
        await cache.get("acc_missing")  # read again: a failure is not remembered
