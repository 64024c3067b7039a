"""Billing storage over SQLite and PostgreSQL: key budgets exact under concurrency, a dead
process's reservations resolved (charged when its idempotent call is known done), idempotency
claims, BYOK sealing, usage rows."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from toolwire.billing import Billing
from toolwire.billing.instances import Instances
from toolwire.core.errors import BudgetExceeded, Conflict, InvalidRequest, ToolwireError
from toolwire.core.model import Meta, Outcome, Principal, Reservation
from toolwire.store import Store
from toolwire.store.idempotency import SqlIdempotency
from toolwire.store.ledger import SqlLedger

PRICE = 25_000
SECRET = os.urandom(32)


async def principal_with(store: Store, micro: int) -> Principal:
    account = await store.accounts.create_account("acme", micro)
    _, raw = await store.accounts.create_key(account.id, "k", ["*"])
    found = await store.keys.authenticate(raw)
    assert found is not None
    return found


async def reserve(ledger: SqlLedger, principal: Principal, rid: str = "req") -> Reservation:
    return await ledger.reserve(principal, PRICE, request_id=rid, tool="echo", operation="echo")


async def test_an_hourly_budget_admits_exactly_what_fits_under_concurrency(store: Store) -> None:
    principal = await principal_with(store, 1_000 * PRICE)
    capped = dataclasses.replace(principal, budget_hour=40 * PRICE, budget_day=100 * PRICE)
    results = await asyncio.gather(
        *(reserve(store.ledger, capped) for _ in range(200)), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, ToolwireError)]
    assert len(made) == 40
    assert {e.code for e in refused} == {"BUDGET_EXCEEDED"}
    # released reservations give their budget back; other keys are not affected
    for reservation in made[:10]:
        await store.ledger.release(reservation)
    again = await asyncio.gather(
        *(reserve(store.ledger, capped) for _ in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, Reservation) for r in again) == 10
    assert isinstance(await reserve(store.ledger, principal), Reservation)
    await store.ledger.flush()
    assert await store.accounts.ledger_sum(principal.account_id) == await store.accounts.balance(
        principal.account_id
    )


async def test_a_budget_refusal_says_which_window_and_when_it_resets(store: Store) -> None:
    principal = await principal_with(store, 10 * PRICE)
    capped = dataclasses.replace(principal, budget_day=PRICE)
    await reserve(store.ledger, capped)
    with pytest.raises(BudgetExceeded) as refused:
        await reserve(store.ledger, capped)
    assert refused.value.details["window"] == "day"
    assert 1 <= refused.value.details["retry_after_s"] <= 86_400


async def test_a_dead_process_reservations_are_released_or_charged_if_its_call_was_kept(
    store: Store,
) -> None:
    principal = await principal_with(store, 10 * PRICE)
    dead = Instances(store.engine, "gw_dead")
    await dead.register()
    await store.engine.dispose()
    async with store.engine.begin() as conn:  # a process that is gone on this host
        await conn.execute(text("UPDATE gateway_instances SET pid = 999999999"))
    store.ledger.instance_id = "gw_dead"
    kept = await reserve(store.ledger, principal, "req-kept")
    await reserve(store.ledger, principal, "req-lost")
    await store.ledger.flush()
    claims = SqlIdempotency(store.engine, instance_id="gw_dead")
    for idem in ("k-kept", "k-lost"):
        assert (
            await claims.claim(principal, idem, tool="echo", arguments={}, request_id=idem) is None
        )
    meta = Meta(request_id="k-kept", tool="echo", credits_charged=PRICE)
    await claims.complete(principal, "k-kept", Outcome(meta, {"echo": 1}), kept.id)

    billing = Billing(store, SECRET)
    recovery = await billing.start()
    assert (recovery.instances, recovery.charged, recovery.released) == (1, 1, 1)
    assert recovery.claims_dropped == 1
    assert await store.accounts.balance(principal.account_id) == 9 * PRICE
    assert await store.accounts.ledger_sum(principal.account_id) == 9 * PRICE
    assert await billing.recover() == type(recovery)()  # nothing left to do, twice
    assert await billing.idempotency.claim(
        principal, "k-lost", tool="echo", arguments={}, request_id="again"
    ) is None  # fmt: skip
    await billing.stop()


async def test_an_instance_is_dead_when_its_heartbeat_is_old_and_alive_otherwise(
    store: Store,
) -> None:
    me = Instances(store.engine, "gw_me", dead_after_s=30)
    other = Instances(store.engine, "gw_other", dead_after_s=30)
    await me.register()
    await other.register()
    assert await me.dead() == []
    async with store.engine.begin() as conn:
        await conn.execute(
            text("UPDATE gateway_instances SET heartbeat_at = :t WHERE id = 'gw_other'"),
            {"t": datetime(2020, 1, 1, tzinfo=UTC)},
        )
    assert await me.dead() == ["gw_other"]


async def test_idempotency_claims_replay_conflict_and_expire(store: Store) -> None:
    principal = await principal_with(store, PRICE)
    claims = SqlIdempotency(store.engine)
    assert (
        await claims.claim(principal, "a", tool="echo", arguments={"x": 1}, request_id="r1") is None
    )
    with pytest.raises(Conflict) as running:
        await claims.claim(principal, "a", tool="echo", arguments={"x": 1}, request_id="r2")
    assert running.value.details["reason"] == "in_progress"
    await claims.complete(principal, "a", Outcome(Meta("r1", "echo"), {"ok": 1}), None)
    replay = await claims.claim(principal, "a", tool="echo", arguments={"x": 1}, request_id="r3")
    assert replay is not None and replay.data == {"ok": 1} and replay.meta.replayed
    assert replay.meta.request_id == "r1"
    with pytest.raises(Conflict) as reused:
        await claims.claim(principal, "a", tool="echo", arguments={"x": 2}, request_id="r4")
    assert reused.value.details["reason"] == "key_reused"
    with pytest.raises(InvalidRequest):
        await claims.claim(principal, "a b", tool="echo", arguments={}, request_id="r5")
    expiring = SqlIdempotency(store.engine, window_s=0)
    assert await expiring.claim(principal, "b", tool="echo", arguments={}, request_id="r6") is None
    assert await expiring.claim(principal, "b", tool="echo", arguments={}, request_id="r7") is None
    assert await expiring.purge_expired() >= 1


async def test_byok_values_are_sealed_at_rest_and_listed_without_them(store: Store) -> None:
    account = await store.accounts.create_account("acme")
    billing = Billing(store, SECRET)
    _, created = await billing.byok.put(account.id, "acme", "sk-very-secret-value")
    assert created
    async with store.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT ciphertext FROM byok_credentials"))).scalar()
    assert "sk-very-secret-value" not in str(stored)
    assert [i.provider for i in await billing.byok.list(account.id)] == ["acme"]
    assert "sk-very" not in str([i.to_dict() for i in await billing.byok.list(account.id)])
    assert await billing.byok.values(account.id) == {"acme": "sk-very-secret-value"}
    other = Billing(store, os.urandom(32))  # another gateway secret cannot open it
    with pytest.raises(ValueError):
        await other.byok.values(account.id)


def test_byok_fees_in_the_catalog_file_set_each_operations_fee() -> None:
    from toolwire.config import ConfigError, apply, parse_config
    from toolwire.upstream.builtin import builtin_specs

    config = parse_config({"prices": {"echo": 1}, "byok_fees": {"echo": 0.1}})
    [echo] = [t for t in apply(config, builtin_specs()) if t.name == "echo"]
    assert (echo.operations[0].price, echo.operations[0].byok_fee) == (1_000_000, 100_000)
    with pytest.raises(ConfigError):
        parse_config({"byok_fees": {"echo": -1}})
