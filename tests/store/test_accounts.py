"""Accounts, grants, balances and system facts."""

from __future__ import annotations

import asyncio

import pytest

from toolwire.core.errors import ToolwireError
from toolwire.store import Store

MICRO = 1_000_000


async def test_a_new_account_starts_with_its_credits_as_a_grant(store: Store) -> None:
    account = await store.accounts.create_account("acme", 5 * MICRO)
    assert account.balance == 5 * MICRO
    assert await store.accounts.balance(account.id) == 5 * MICRO
    assert await store.accounts.ledger_sum(account.id) == 5 * MICRO
    [entry] = await store.accounts.history(account.id)
    assert (entry.kind, entry.amount) == ("grant", 5 * MICRO)
    assert account.id.startswith("acc_") and len(account.id) == 16


async def test_an_account_without_credits_has_an_empty_ledger(store: Store) -> None:
    account = await store.accounts.create_account("acme")
    assert await store.accounts.balance(account.id) == 0
    assert await store.accounts.ledger_sum(account.id) == 0
    assert await store.accounts.history(account.id) == []
    assert [a.id for a in await store.accounts.list_accounts()] == [account.id]
    assert await store.accounts.get_account(account.id) == account


async def test_grant_adds_credits_and_keeps_the_ledger_equal_to_the_balance(store: Store) -> None:
    account = await store.accounts.create_account("acme", MICRO)
    assert await store.accounts.grant(account.id, 250_000, "top-up") == 1_250_000
    assert await store.accounts.ledger_sum(account.id) == 1_250_000
    latest = (await store.accounts.history(account.id, limit=1))[0]
    assert (latest.kind, latest.amount, latest.note) == ("grant", 250_000, "top-up")


async def test_grant_rejects_amounts_that_are_not_positive_integers(store: Store) -> None:
    account = await store.accounts.create_account("acme")
    for amount in (0, -1, -MICRO, 1.5, True, "5"):
        with pytest.raises(ToolwireError) as error:
            await store.accounts.grant(account.id, amount)  # type: ignore[arg-type]
        assert error.value.code == "INVALID_REQUEST", amount
    assert await store.accounts.balance(account.id) == 0
    assert await store.accounts.ledger_sum(account.id) == 0


async def test_unknown_accounts_are_not_found(store: Store) -> None:
    for attempt in (
        store.accounts.grant("acc_unknown", MICRO),
        store.accounts.get_account("acc_unknown"),
        store.accounts.balance("acc_unknown"),
        store.accounts.history("acc_unknown"),
        store.accounts.set_disabled("acc_unknown", True),
        store.ledger.balance("acc_unknown"),
    ):
        with pytest.raises(ToolwireError) as error:
            await attempt
        assert error.value.code == "NOT_FOUND"


async def test_an_account_cannot_start_with_invalid_credits_or_no_name(store: Store) -> None:
    for credits in (-1, 1.5, True):
        with pytest.raises(ToolwireError) as error:
            await store.accounts.create_account("acme", credits)  # type: ignore[arg-type]
        assert error.value.code == "INVALID_REQUEST", credits
    with pytest.raises(ToolwireError) as nameless:
        await store.accounts.create_account("  ")
    assert nameless.value.code == "INVALID_REQUEST"
    assert await store.accounts.list_accounts() == []


async def test_only_the_first_writer_of_a_system_fact_wins(store: Store) -> None:
    assert await store.accounts.get_meta("bootstrapped") is None
    results = await asyncio.gather(
        *(store.accounts.set_meta_if_absent("bootstrapped", str(i)) for i in range(10))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await store.accounts.get_meta("bootstrapped") == str(winner)


async def test_infos_render_credits_and_utc_times_for_json(store: Store) -> None:
    account = await store.accounts.create_account("acme", 1_500_000)
    body = account.to_dict()
    assert body["balance"] == 1.5
    assert isinstance(body["created_at"], str) and body["created_at"].endswith("Z")
    fetched = await store.accounts.get_account(account.id)
    assert fetched.created_at.utcoffset() is not None
    assert fetched.to_dict() == body
    [entry] = await store.accounts.history(account.id)
    assert entry.to_dict()["amount"] == 1.5
