"""The SQLite ledger writer: a lone operation commits on the loop, a lock held by another
process sends it to the writer thread (nothing written twice, the loop never blocked), and the
writer's own PASSIVE checkpoints keep the WAL small (`toolwire.store.ledger_sqlite`)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.store.test_ledger import PRICE, _assert_invariant, _reserve, new_principal
from toolwire.store import Store, ledger_sqlite
from toolwire.store.ledger_sqlite import SqliteWriter


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'toolwire.db'}")
    try:
        yield opened
    finally:
        await opened.close()


def _writer(store: Store) -> SqliteWriter:
    writer = store.ledger._sqlite
    assert isinstance(writer, SqliteWriter)
    return writer


async def test_a_lone_reserve_and_its_settle_commit_on_the_loop(
    sqlite_store: Store, tmp_path: Path
) -> None:
    principal = await new_principal(sqlite_store, 100 * PRICE)
    state = _writer(sqlite_store).state
    before = state.on_loop
    reservation = await _reserve(sqlite_store.ledger, principal)
    await sqlite_store.ledger.settle(reservation, PRICE)
    assert state.on_loop == before + 2
    # Committed when settle returned: another connection reads both entries, no flush.
    with sqlite3.connect(tmp_path / "toolwire.db") as other:
        kinds = other.execute(
            "SELECT kind FROM ledger_entries WHERE reservation_id = ? ORDER BY id",
            (reservation.id,),
        ).fetchall()
    assert [k for (k,) in kinds] == ["reserve", "charge"]
    await _assert_invariant(sqlite_store, principal.account_id, 99 * PRICE)


async def test_a_write_lock_held_elsewhere_sends_the_batch_to_the_thread(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """Another process holds the write lock: the on-loop attempt fails at once (busy timeout
    0), the loop keeps running while the writer thread waits for the lock, and the reservation
    is written once when the lock is released."""
    principal = await new_principal(sqlite_store, 100 * PRICE)
    state = _writer(sqlite_store).state
    holder = sqlite3.connect(tmp_path / "toolwire.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        call = asyncio.create_task(_reserve(sqlite_store.ledger, principal))
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.3:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not call.done()
        assert ticks >= 10  # the loop was not blocked by the wait for the lock
        assert state.busy >= 1
        holder.execute("COMMIT")
        async with asyncio.timeout(5):
            reservation = await call
    finally:
        holder.close()
    assert reservation.balance_after == 99 * PRICE
    await _assert_invariant(sqlite_store, principal.account_id, 99 * PRICE)
    history = await sqlite_store.accounts.history(principal.account_id)
    assert [e.kind for e in history] == ["reserve", "grant"]


@pytest.mark.parametrize("every", [ledger_sqlite.CHECKPOINT_EVERY, 10**9])
async def test_the_writer_checkpoints_the_wal_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int
) -> None:
    """The writer connection never checkpoints on commit (`wal_autocheckpoint = 0`); its own
    PASSIVE checkpoints let the WAL restart from the beginning. Without them (`every` huge)
    the WAL grows with every commit, which is what the bound below catches."""
    monkeypatch.setattr(ledger_sqlite, "CHECKPOINT_EVERY", every)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'toolwire.db'}")
    try:
        principal = await new_principal(store, 10**9)
        wal = tmp_path / "toolwire.db-wal"
        for _ in range(600):
            reservation = await _reserve(store.ledger, principal)
            await store.ledger.settle(reservation, PRICE)
        size = wal.stat().st_size
        await _assert_invariant(store, principal.account_id, 10**9 - 600 * PRICE)
    finally:
        await store.close()
    if every < 10**9:
        assert size < 12_000_000, size
    else:
        assert size >= 20_000_000, size
