"""The group-commit ledger: exact under concurrency, never hangs, recovers stale reservations."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import text

from toolwire.core.errors import InsufficientCredits, ToolwireError
from toolwire.core.model import Principal, Reservation
from toolwire.store import Store
from toolwire.store.ledger import SqlLedger

PRICE = 25_000  # 0.025 credits


async def new_principal(store: Store, micro: int, name: str = "acme") -> Principal:
    """An account holding `micro` micro-credits and a principal for a fresh key of it."""
    account = await store.accounts.create_account(name, micro)
    _, raw = await store.accounts.create_key(account.id, "test", ["*"])
    principal = await store.keys.authenticate(raw)
    assert principal is not None
    return principal


async def _reserve(ledger: SqlLedger, principal: Principal, amount: int = PRICE) -> Reservation:
    return await ledger.reserve(principal, amount, request_id="req", tool="search", operation="web")


async def _assert_invariant(store: Store, account_id: str, expected: int) -> None:
    await store.ledger.flush()
    assert await store.ledger.balance(account_id) == expected
    assert await store.accounts.ledger_sum(account_id) == expected


async def test_exactly_the_affordable_reservations_succeed_under_concurrency(store: Store) -> None:
    affordable = 150
    principal = await new_principal(store, affordable * PRICE)
    results = await asyncio.gather(
        *(_reserve(store.ledger, principal) for _ in range(400)), return_exceptions=True
    )
    reserved = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if not isinstance(r, Reservation)]
    assert len(reserved) == affordable
    assert all(isinstance(e, InsufficientCredits) for e in refused)
    assert {e.code for e in refused if isinstance(e, ToolwireError)} == {"INSUFFICIENT_CREDITS"}
    assert len({r.id for r in reserved}) == affordable
    assert sorted(r.balance_after for r in reserved) == [i * PRICE for i in range(affordable)]
    await _assert_invariant(store, principal.account_id, 0)

    half = affordable // 2
    for reservation in reserved[:half]:
        await store.ledger.settle(reservation, reservation.amount)
    await asyncio.gather(*(store.ledger.release(r) for r in reserved[half:]))
    await _assert_invariant(store, principal.account_id, (affordable - half) * PRICE)


async def test_insufficient_credits_reports_the_price_and_the_balance(store: Store) -> None:
    principal = await new_principal(store, 10_000)
    with pytest.raises(InsufficientCredits) as error:
        await _reserve(store.ledger, principal, 2_500_000)
    assert error.value.code == "INSUFFICIENT_CREDITS"
    assert error.value.details == {"required": 2.5, "balance": 0.01}
    await _assert_invariant(store, principal.account_id, 10_000)


async def test_a_smaller_reservation_behind_a_refused_one_still_fits(store: Store) -> None:
    principal = await new_principal(store, 100)
    results = await asyncio.gather(
        _reserve(store.ledger, principal, 60),
        _reserve(store.ledger, principal, 60),
        _reserve(store.ledger, principal, 40),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [Reservation, InsufficientCredits, Reservation]
    await _assert_invariant(store, principal.account_id, 0)


async def test_reserving_for_an_unknown_account_is_not_found(store: Store) -> None:
    ghost = Principal(key_id="k", account_id="acc_doesnotexist", scopes=None)  # type: ignore[arg-type]
    with pytest.raises(ToolwireError) as error:
        await _reserve(store.ledger, ghost)
    assert error.value.code == "NOT_FOUND"


async def test_release_gives_the_credits_back(store: Store) -> None:
    principal = await new_principal(store, 100_000)
    reservation = await _reserve(store.ledger, principal)
    assert reservation.balance_after == 100_000 - PRICE
    assert await store.ledger.release(reservation) == 100_000
    await _assert_invariant(store, principal.account_id, 100_000)
    kinds = [e.kind for e in await store.accounts.history(principal.account_id)]
    assert kinds == ["release", "reserve", "grant"]


async def test_settle_with_a_smaller_charge_refunds_the_difference(store: Store) -> None:
    principal = await new_principal(store, 100_000)
    reservation = await _reserve(store.ledger, principal)
    assert await store.ledger.settle(reservation, 10_000) == 100_000 - 10_000
    await _assert_invariant(store, principal.account_id, 90_000)
    charge = (await store.accounts.history(principal.account_id))[0]
    assert (charge.kind, charge.amount, charge.charged) == ("charge", PRICE - 10_000, 10_000)


async def test_settle_rejects_a_charge_above_the_reservation(store: Store) -> None:
    principal = await new_principal(store, 100_000)
    reservation = await _reserve(store.ledger, principal)
    with pytest.raises(ValueError):
        await store.ledger.settle(reservation, PRICE + 1)
    with pytest.raises(ValueError):
        await _reserve(store.ledger, principal, 0)


async def test_a_reservation_is_resolved_only_once(store: Store) -> None:
    principal = await new_principal(store, 100_000)
    reservation = await _reserve(store.ledger, principal)
    await store.ledger.settle(reservation, PRICE)
    assert await store.ledger.release(reservation) == 100_000 - PRICE
    await store.ledger.settle(reservation, 0)
    await _assert_invariant(store, principal.account_id, 100_000 - PRICE)


async def test_reservation_ids_sort_in_the_order_they_were_made(store: Store) -> None:
    """Time first, then 80 random bits: the ledger's reservation indexes (and the audit record's
    call id, the reservation's) grow at their right edge (docs/design/audit-batch-writes.md)."""
    principal = await new_principal(store, 100 * PRICE)
    made = []
    for _ in range(3):
        made += await asyncio.gather(*(_reserve(store.ledger, principal) for _ in range(5)))
        await asyncio.sleep(0.002)
    ids = [r.id for r in made]
    assert all(re.fullmatch(r"res_[0-9a-f]{12}[a-z2-7]{16}", i) for i in ids)
    assert len(set(ids)) == 15
    assert max(ids[:5]) < min(ids[5:10]) and max(ids[5:10]) < min(ids[10:])


async def test_two_ledgers_on_one_database_stay_exact(store: Store, db_url: str) -> None:
    other = await Store.open(db_url)
    try:
        affordable = 100
        principal = await new_principal(store, affordable * PRICE)
        results = await asyncio.gather(
            *(
                _reserve(ledger, principal)
                for _ in range(150)
                for ledger in (store.ledger, other.ledger)
            ),
            return_exceptions=True,
        )
        reserved = [r for r in results if isinstance(r, Reservation)]
        assert len(reserved) == affordable
        assert all(isinstance(r, (Reservation, InsufficientCredits)) for r in results)
        for i, reservation in enumerate(reserved):
            ledger = store.ledger if i % 2 else other.ledger
            await ledger.settle(reservation, PRICE if i % 3 else 0)
        await other.ledger.flush()
        charged = sum(PRICE for i in range(affordable) if i % 3)
        await _assert_invariant(store, principal.account_id, affordable * PRICE - charged)
    finally:
        await other.close()


async def test_a_settle_returns_once_its_charge_is_committed(store: Store) -> None:
    """The answer waits for the settle: when `settle` returns, another connection already reads
    the charge (no flush), so a crash after the answer cannot release it."""
    principal = await new_principal(store, 100_000)
    reservation = await _reserve(store.ledger, principal)
    await store.ledger.settle(reservation, PRICE)
    async with store.engine.connect() as conn:
        kinds = (
            await conn.execute(
                text("SELECT kind FROM ledger_entries WHERE reservation_id = :r ORDER BY id"),
                {"r": reservation.id},
            )
        ).all()
    assert [k for (k,) in kinds] == ["reserve", "charge"]


async def test_a_settle_whose_batch_fails_once_is_retried_before_it_returns(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = await new_principal(store, 100_000)
    ledger = store.ledger
    reservation = await _reserve(ledger, principal)
    write = ledger._write
    failures = [RuntimeError("a lost connection")]

    async def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return await write(*args)

    monkeypatch.setattr(ledger, "_write", flaky)
    async with asyncio.timeout(5):
        await ledger.settle(reservation, PRICE)
    assert failures == []
    monkeypatch.undo()
    await _assert_invariant(store, principal.account_id, 100_000 - PRICE)


async def test_a_failed_batch_fails_every_waiter(store: Store) -> None:
    principal = await new_principal(store, 100 * PRICE)
    async with store.engine.begin() as conn:
        await conn.execute(text("DROP TABLE ledger_entries"))
    async with asyncio.timeout(5):
        results = await asyncio.gather(
            *(_reserve(store.ledger, principal) for _ in range(20)), return_exceptions=True
        )
    assert all(isinstance(r, ToolwireError) and r.code == "INTERNAL" for r in results)
    assert await store.ledger.balance(principal.account_id) == 100 * PRICE  # rolled back


async def test_a_crashed_writer_fails_its_waiters_and_the_next_call_restarts_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = await new_principal(store, 100 * PRICE)

    async def crash(batch: list[Any]) -> None:
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(store.ledger, "_process", crash)
    async with asyncio.timeout(5):
        results = await asyncio.gather(
            *(_reserve(store.ledger, principal) for _ in range(10)), return_exceptions=True
        )
    assert all(isinstance(r, ToolwireError) and r.code == "INTERNAL" for r in results)
    monkeypatch.undo()
    async with asyncio.timeout(5):
        reservation = await _reserve(store.ledger, principal)
    assert reservation.balance_after == 99 * PRICE
    await _assert_invariant(store, principal.account_id, 99 * PRICE)


async def test_a_caller_that_goes_away_during_the_commit_gets_its_credits_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = await new_principal(store, 100 * PRICE)
    ledger = store.ledger
    entered, gate = asyncio.Event(), asyncio.Event()
    write = ledger._write

    async def gated(*args: Any) -> Any:
        entered.set()
        await gate.wait()
        return await write(*args)

    monkeypatch.setattr(ledger, "_write", gated)
    call = asyncio.create_task(_reserve(ledger, principal))
    async with asyncio.timeout(5):
        await entered.wait()
    call.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    monkeypatch.undo()
    await _assert_invariant(store, principal.account_id, 100 * PRICE)
    kinds = [e.kind for e in await store.accounts.history(principal.account_id)]
    assert kinds == ["release", "reserve", "grant"]


async def test_close_writes_the_settles_still_queued(db_url: str) -> None:
    first = await Store.open(db_url)
    principal = await new_principal(first, 100_000)
    reservation = await _reserve(first.ledger, principal)
    await first.ledger.settle(reservation, PRICE)
    await first.close()
    second = await Store.open(db_url)
    try:
        kinds = [e.kind for e in await second.accounts.history(principal.account_id)]
        assert kinds == ["charge", "reserve", "grant"]
        await _assert_invariant(second, principal.account_id, 100_000 - PRICE)
    finally:
        await second.close()
    with pytest.raises(ToolwireError):
        await _reserve(first.ledger, principal)


async def test_reconcile_releases_a_stale_reservation_exactly_once(store: Store) -> None:
    principal = await new_principal(store, 100_000)
    stale = await _reserve(store.ledger, principal)
    settled = await _reserve(store.ledger, principal)
    released = await _reserve(store.ledger, principal)
    await store.ledger.settle(settled, PRICE)
    await store.ledger.release(released)
    await store.ledger.flush()
    assert await store.ledger.reconcile(stale_after=3600) == 0  # nothing is that old
    assert await store.ledger.reconcile(stale_after=0) == 1
    assert await store.ledger.reconcile(stale_after=0) == 0
    fresh = SqlLedger(store.engine)  # another process: no watermark, same answer
    assert await fresh.reconcile(stale_after=0) == 0
    await fresh.close()
    await _assert_invariant(store, principal.account_id, 100_000 - PRICE)
    # The call that held it finishes after all: it is not charged twice, nor at all.
    assert stale.id in {
        e.reservation_id for e in await store.accounts.history(principal.account_id)
    }
    await store.ledger.settle(stale, PRICE)
    await _assert_invariant(store, principal.account_id, 100_000 - PRICE)
