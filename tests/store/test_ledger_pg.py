"""The PostgreSQL one-statement batch (`toolwire.store.ledger_pg`): taken on the common path,
left whole for the general path when an account falls short, exact either way."""

from __future__ import annotations

import asyncio

import pytest

from tests.store.test_ledger import PRICE, _assert_invariant, _reserve, new_principal
from toolwire.core.errors import InsufficientCredits, NotFound
from toolwire.core.model import Principal, Reservation
from toolwire.store import Store


def _pg_only(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's; SQLite runs the general path")


async def test_a_plain_batch_is_one_statement_and_exact(store: Store) -> None:
    _pg_only(store)
    a = await new_principal(store, 100 * PRICE, "a")
    b = await new_principal(store, 100 * PRICE, "b")
    reserved = await asyncio.gather(*(_reserve(store.ledger, p) for p in [a, b] * 20))
    assert store.ledger.stats.single_statement >= 1
    for p in (a, b):
        mine = sorted(r.balance_after for r in reserved if r.account_id == p.account_id)
        assert mine == [i * PRICE for i in range(80, 100)]
    taken = store.ledger.stats.single_statement
    # in one batch: a partial charge, a duplicate settle of the same reservation (ignored),
    # 9 releases (5 of b, 4 of a) and 5 new reservations of a
    await asyncio.gather(
        store.ledger.settle(reserved[0], PRICE // 5),
        store.ledger.settle(reserved[0], PRICE),
        *(store.ledger.release(r) for r in reserved[1:10]),
        *(_reserve(store.ledger, a) for _ in range(5)),
    )
    assert store.ledger.stats.single_statement > taken
    assert store.ledger.stats.failed_batches == 0
    await _assert_invariant(store, a.account_id, (100 - 20 + 4 - 5) * PRICE + PRICE - PRICE // 5)
    await _assert_invariant(store, b.account_id, (100 - 20 + 5) * PRICE)


async def test_a_short_account_falls_back_and_only_the_affordable_succeed(store: Store) -> None:
    _pg_only(store)
    rich = await new_principal(store, 100 * PRICE, "rich")
    poor = await new_principal(store, 3 * PRICE, "poor")
    callers = [rich, poor] * 6
    results = await asyncio.gather(
        *(_reserve(store.ledger, p) for p in callers), return_exceptions=True
    )
    theirs = [r for r, p in zip(results, callers, strict=True) if p is poor]
    assert sum(isinstance(r, Reservation) for r in theirs) == 3
    assert all(isinstance(r, Reservation | InsufficientCredits) for r in theirs)
    assert all(
        isinstance(r, Reservation) for r, p in zip(results, callers, strict=True) if p is rich
    )
    await _assert_invariant(store, poor.account_id, 0)
    await _assert_invariant(store, rich.account_id, 94 * PRICE)


async def test_an_unknown_account_is_not_found_and_the_rest_commits(store: Store) -> None:
    _pg_only(store)
    known = await new_principal(store, 10 * PRICE)
    ghost = Principal(key_id="k_ghost", account_id="acct_ghost", scopes=known.scopes)
    results = await asyncio.gather(
        _reserve(store.ledger, known), _reserve(store.ledger, ghost), return_exceptions=True
    )
    assert isinstance(results[0], Reservation)
    assert isinstance(results[1], NotFound)
    await _assert_invariant(store, known.account_id, 9 * PRICE)
