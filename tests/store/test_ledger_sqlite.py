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
from toolwire.core.model import Principal
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


async def _call(store: Store, principal: Principal) -> None:
    reservation = await _reserve(store.ledger, principal)
    await store.ledger.settle(reservation, PRICE)


def _wal_salt(wal: Path) -> int:
    """Salt-1 of the WAL file's header: SQLite adds one to it each time the WAL restarts."""
    with wal.open("rb") as f:
        return int.from_bytes(f.read(32)[16:20], "big")


def _restarts_since(wal: Path, salt: int) -> int:
    return (_wal_salt(wal) - salt) % 2**32


@pytest.mark.parametrize("checkpoints", [True, False])
async def test_the_wal_restarts_under_continuous_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoints: bool
) -> None:
    """32 callers reserve and settle without a pause while the checkpoint cycles run: pass 1
    beside the commits, and pass 2 between two batches once the WAL holds `RESTART_FRAMES`
    frames, after which the next commit starts the WAL again from its beginning (the WAL
    header's salt-1 goes up by one). The load runs until the WAL restarted twice; without
    checkpoints (the writer connection never checkpoints on commit) it never does, and the
    load stops after 3,000 calls."""
    monkeypatch.setattr(ledger_sqlite, "CHECKPOINT_OPS", 64 if checkpoints else 10**9)
    monkeypatch.setattr(ledger_sqlite, "CHECKPOINT_EVERY", 256 if checkpoints else 10**9)
    monkeypatch.setattr(ledger_sqlite, "RESTART_FRAMES", 256)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'toolwire.db'}")
    wal = tmp_path / "toolwire.db-wal"
    try:
        principal = await new_principal(store, 10**9)
        salt = _wal_salt(wal)
        calls = 0

        async def caller() -> None:
            nonlocal calls
            while _restarts_since(wal, salt) < 2 and (checkpoints or calls < 3000):
                await _call(store, principal)
                calls += 1

        async with asyncio.timeout(120):
            await asyncio.gather(*(caller() for _ in range(32)))
        restarts, size = _restarts_since(wal, salt), wal.stat().st_size
        await _assert_invariant(store, principal.account_id, 10**9 - calls * PRICE)
    finally:
        await store.close()
    if checkpoints:
        assert restarts >= 2
    else:
        assert restarts == 0
        assert size > 10 * 2**20


@pytest.mark.parametrize("pass_2", [True, False])
async def test_pass_2_restarts_a_wal_that_pass_1_could_not_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pass_2: bool
) -> None:
    """Under load a commit lands while pass 1 runs, so pass 1 never leaves the WAL all in the
    database and the WAL cannot restart. Here another connection writes a transaction across
    every pass 1; pass 2, between two of the ledger's batches, copies what that left, and the
    ledger's next commit restarts the WAL. Without pass 2 (`RESTART_FRAMES` out of reach) it
    never restarts. Each call waits for a running cycle: every run sees the same sequence."""
    monkeypatch.setattr(ledger_sqlite, "CHECKPOINT_EVERY", 16)
    monkeypatch.setattr(ledger_sqlite, "RESTART_FRAMES", 64 if pass_2 else 10**9)
    beside = SqliteWriter._checkpoint_beside

    def beside_a_commit(self: SqliteWriter) -> ledger_sqlite.Checkpointed | None:
        other = sqlite3.connect(tmp_path / "toolwire.db", isolation_level=None)
        try:
            other.execute("PRAGMA wal_autocheckpoint = 0")  # no checkpoint of its own
            other.execute("BEGIN IMMEDIATE")
            other.execute("PRAGMA user_version = 7")
            answer = beside(self)
            other.execute("COMMIT")
        finally:
            other.close()
        return answer

    monkeypatch.setattr(SqliteWriter, "_checkpoint_beside", beside_a_commit)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'toolwire.db'}")
    wal = tmp_path / "toolwire.db-wal"
    try:
        principal = await new_principal(store, 10**9)
        state = _writer(store).state
        salt = _wal_salt(wal)
        for _ in range(150):
            await _call(store, principal)
            if state.cycle is not None:
                await state.cycle
        restarts = _restarts_since(wal, salt)
        await _assert_invariant(store, principal.account_id, 10**9 - 150 * PRICE)
    finally:
        await store.close()
    assert state.cycles >= 8
    if pass_2:
        assert restarts >= 2
    else:
        assert restarts == 0


async def test_a_wal_grown_behind_a_reader_shrinks_when_it_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader holding an old snapshot keeps the checkpoints from copying past it, so the WAL
    grows; once it lets go, the next restart truncates the file to `WAL_SIZE_LIMIT`. Each call
    here waits for a running checkpoint cycle, so that the cycles see the same WAL every run."""
    monkeypatch.setattr(ledger_sqlite, "CHECKPOINT_EVERY", 16)
    monkeypatch.setattr(ledger_sqlite, "RESTART_FRAMES", 64)
    monkeypatch.setattr(ledger_sqlite, "WAL_SIZE_LIMIT", 256 * 1024)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'toolwire.db'}")
    wal = tmp_path / "toolwire.db-wal"
    try:
        principal = await new_principal(store, 10**9)
        state = _writer(store).state
        calls = 0

        async def call() -> None:
            nonlocal calls
            await _call(store, principal)
            calls += 1
            if state.cycle is not None:
                await state.cycle

        reader = sqlite3.connect(tmp_path / "toolwire.db", isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM ledger_entries").fetchone()
            for _ in range(200):
                await call()
            grown = wal.stat().st_size
        finally:
            reader.close()
        assert grown > 16 * ledger_sqlite.WAL_SIZE_LIMIT
        salt = _wal_salt(wal)
        async with asyncio.timeout(60):
            while _restarts_since(wal, salt) == 0:
                await call()
        # Cut to the limit by the commit that restarted it (that commit's frames are in it).
        assert wal.stat().st_size <= ledger_sqlite.WAL_SIZE_LIMIT
        await _assert_invariant(store, principal.account_id, 10**9 - calls * PRICE)
    finally:
        await store.close()
