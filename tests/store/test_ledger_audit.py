"""The audit record of a charged or released call commits in the same transaction as its settle
or release (on SQLite, on PostgreSQL's general path and its one-statement batch), and a recovery
writes its own record with the resolution it makes (docs/design/durable-audit.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.store.test_audit_sink import MESSAGES
from tests.store.test_ledger import new_principal
from toolwire.core.errors import Internal
from toolwire.core.model import AuditEvent, Reservation
from toolwire.store import Store
from toolwire.store.audit_sink import audit_row
from toolwire.store.tables import audit_events, ledger_entries

PRICE = 25_000


def event(request_id: str, charged: int, outcome: str = "OK") -> AuditEvent:
    return AuditEvent(
        request_id=request_id,
        at=time.time(),
        account_id="acct",
        key_id="key",
        tool="search",
        operation="web",
        door="rest",
        outcome=outcome,
        credits_charged=charged,
        latency_ms=1.5,
    )


async def rows(store: Store, **where: Any) -> list[Any]:
    """The audit rows as committed (read on a fresh connection; nothing flushes the sink)."""
    query = select(audit_events).order_by(audit_events.c.id)
    for name, value in where.items():
        query = query.where(audit_events.c[name] == value)
    async with store.engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def charged_in_ledger(store: Store, reservation_id: str) -> int | None:
    query = select(ledger_entries.c.charged).where(
        ledger_entries.c.reservation_id == reservation_id,
        ledger_entries.c.kind.in_(["charge", "release"]),
    )
    async with store.engine.connect() as conn:
        value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def reserve(store: Store, principal: Any, request_id: str) -> Reservation:
    return await store.ledger.reserve(
        principal, PRICE, request_id=request_id, tool="search", operation="web"
    )


async def test_a_settle_commits_its_audit_record_with_the_charge(store: Store) -> None:
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-settle")
    await store.ledger.settle(reservation, PRICE, event("req-settle", PRICE))
    [row] = await rows(store, request_id="req-settle")
    assert (row.door, row.outcome, row.credits_charged) == ("rest", "OK", PRICE)
    assert await charged_in_ledger(store, reservation.id) == PRICE
    assert store.audit.written == 0  # the sink wrote nothing: the ledger did


async def test_a_release_commits_its_audit_record(store: Store) -> None:
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-release")
    await store.ledger.release(reservation, event("req-release", 0, "UPSTREAM_ERROR"))
    [row] = await rows(store, request_id="req-release")
    assert (row.outcome, row.credits_charged) == ("UPSTREAM_ERROR", 0)
    assert await charged_in_ledger(store, reservation.id) == 0


async def test_an_audit_record_that_cannot_be_written_keeps_the_charge_from_committing(
    store: Store,
) -> None:
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-bad")

    def broken(audit: AuditEvent) -> dict[str, Any]:
        return {**audit_row(audit), "door": None}  # NOT NULL: the database refuses the row

    store.ledger.audit_row = broken
    with pytest.raises(Internal):
        await store.ledger.settle(reservation, PRICE, event("req-bad", PRICE))
    assert await rows(store, request_id="req-bad") == []
    assert await charged_in_ledger(store, reservation.id) is None  # open: reconcile releases it
    assert await store.accounts.ledger_sum(principal.account_id) == 9 * PRICE


async def test_concurrent_settles_leave_one_record_per_call_that_adds_up_to_the_ledger(
    store: Store,
) -> None:
    calls = 120
    principal = await new_principal(store, calls * PRICE)
    reservations = await asyncio.gather(
        *(reserve(store, principal, f"req-{i}") for i in range(calls))
    )

    async def finish(i: int, reservation: Reservation) -> None:
        if i % 3:
            await store.ledger.settle(reservation, PRICE, event(f"req-{i}", PRICE))
        else:
            await store.ledger.release(reservation, event(f"req-{i}", 0, "UPSTREAM_ERROR"))

    await asyncio.gather(*(finish(i, r) for i, r in enumerate(reservations)))
    async with store.engine.connect() as conn:
        count, total = (
            await conn.execute(
                select(func.count(), func.coalesce(func.sum(audit_events.c.credits_charged), 0))
            )
        ).one()
    charged = sum(PRICE for i in range(calls) if i % 3)
    assert (count, int(total)) == (calls, charged)
    assert await store.accounts.ledger_sum(principal.account_id) == calls * PRICE - charged


async def test_postgresql_writes_the_record_in_its_one_statement_batch(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's")
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-pg")
    before = store.ledger.stats.single_statement
    await store.ledger.settle(reservation, PRICE, event("req-pg", PRICE))
    assert store.ledger.stats.single_statement == before + 1
    [row] = await rows(store, request_id="req-pg")
    assert row.credits_charged == PRICE


async def test_a_stale_reservation_released_by_reconcile_has_a_recovery_record(
    store: Store,
) -> None:
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-stale")
    assert await store.ledger.reconcile(stale_after=0) == 1
    [row] = await rows(store, request_id="req-stale")
    assert (row.door, row.outcome, row.credits_charged) == ("recovery", "RELEASED", 0)
    assert reservation.id in row.message
    # The call's own settle arrives late: the recovery's record stays the call's one record.
    late = dataclasses.replace(event("req-stale", PRICE), door="rest")
    await store.ledger.settle(reservation, PRICE, late)
    assert await rows(store, request_id="req-stale") == [row]
    assert await store.accounts.ledger_sum(principal.account_id) == 10 * PRICE


async def test_a_dead_instances_completed_call_is_charged_with_a_recovery_record(
    store: Store,
) -> None:
    principal = await new_principal(store, 10 * PRICE)
    store.ledger.instance_id = "dead-instance"
    done = await reserve(store, principal, "req-done")
    await reserve(store, principal, "req-lost")

    async def completed(ids: list[str]) -> dict[str, int]:
        return {done.id: PRICE}

    store.ledger.instance_id = "alive"
    assert await store.ledger.resolve_orphans("dead-instance", completed) == (1, 1)
    [charged] = await rows(store, request_id="req-done")
    [released] = await rows(store, request_id="req-lost")
    assert (charged.door, charged.outcome, charged.credits_charged) == (
        "recovery",
        "CHARGED",
        PRICE,
    )
    assert (released.outcome, released.credits_charged) == ("RELEASED", 0)
    assert await store.accounts.ledger_sum(principal.account_id) == 9 * PRICE


async def test_a_batch_whose_commit_was_not_confirmed_writes_its_record_once(
    store: Store,
) -> None:
    """The first attempt commits but raises (the connection dropped before the answer): the
    ledger retries the resolution, finds it done, and the call still has one record, charged."""
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-lost-ack")
    ledger: Any = store.ledger
    write = ledger._write
    lost: list[int] = []

    async def commit_then_lose_the_answer(*args: Any) -> Any:
        outcome = await write(*args)
        if not lost:
            lost.append(1)
            raise ConnectionResetError("connection reset after COMMIT")
        return outcome

    ledger._write = commit_then_lose_the_answer
    await store.ledger.settle(reservation, PRICE, event("req-lost-ack", PRICE))
    assert lost == [1]
    [row] = await rows(store, request_id="req-lost-ack")
    assert (row.credits_charged, row.call_id) == (PRICE, reservation.id)
    assert await charged_in_ledger(store, reservation.id) == PRICE
    assert await store.accounts.ledger_sum(principal.account_id) == 9 * PRICE


async def test_a_sink_write_whose_commit_was_not_confirmed_is_stored_once(store: Store) -> None:
    """The sink retries a batch whose commit raised after it was applied: stored once."""
    sink: Any = store.audit
    insert = sink._insert
    lost: list[int] = []

    async def commit_then_lose_the_answer(batch: Any) -> None:
        await insert(batch)
        if not lost:
            lost.append(1)
            raise ConnectionResetError("connection reset after COMMIT")

    sink._insert = commit_then_lose_the_answer
    sink.record(event("req-free", 0))
    with pytest.raises(ConnectionResetError):
        await sink.flush()
    await sink.flush()  # the retry
    assert len(await rows(store, request_id="req-free")) == 1


def fallback(request_id: str, reservation: Reservation) -> AuditEvent:
    """The record a gateway hands its sink when its settle failed: charged 0, under the
    reservation's id."""
    return dataclasses.replace(event(request_id, 0), call_id=reservation.id)


async def test_a_settle_committed_then_its_fallback_record_leaves_one_record(
    store: Store,
) -> None:
    """The gateway did not learn that its settle committed and wrote the record through the
    sink as well: the settle's record (with the charge) is the one kept."""
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-both")
    await store.ledger.settle(
        reservation, PRICE, dataclasses.replace(event("req-both", PRICE), call_id=reservation.id)
    )
    store.audit.record(fallback("req-both", reservation))
    await store.audit.flush()
    [row] = await rows(store, request_id="req-both")
    assert row.credits_charged == PRICE


async def test_a_recovery_after_a_fallback_record_makes_that_record_agree_with_the_ledger(
    store: Store,
) -> None:
    """The settle failed (nothing committed), the sink wrote the call's record charged 0; the
    dead instance's completed call is then charged by the recovery: still one record, now with
    the charge, and the recovery's note in its message. A stale release keeps it at 0."""
    principal = await new_principal(store, 10 * PRICE)
    store.ledger.instance_id = "dead-instance"
    done = await reserve(store, principal, "req-done")
    lost = await reserve(store, principal, "req-lost")
    for rid, reservation in (("req-done", done), ("req-lost", lost)):
        store.audit.record(fallback(rid, reservation))
    await store.audit.flush()

    async def completed(ids: list[str]) -> dict[str, int]:
        return {done.id: PRICE}

    store.ledger.instance_id = "alive"
    assert await store.ledger.resolve_orphans("dead-instance", completed) == (1, 1)
    [charged] = await rows(store, request_id="req-done")
    [released] = await rows(store, request_id="req-lost")
    assert (charged.door, charged.outcome, charged.credits_charged) == ("rest", "OK", PRICE)
    assert "process died after the call" in charged.message
    assert (released.credits_charged, released.call_id) == (0, lost.id)
    assert "process died" in released.message
    async with store.engine.connect() as conn:
        total = (await conn.execute(select(func.sum(audit_events.c.credits_charged)))).scalar()
    assert int(total) == PRICE
    assert await store.accounts.ledger_sum(principal.account_id) == 9 * PRICE


async def test_two_calls_of_one_account_in_one_batch_each_carry_their_own_charge(
    store: Store,
) -> None:
    """One batch resolves three calls of one account (two keys): a full charge, a partial
    charge, a release, and a second settle of the first call (a duplicate, not applied). Each
    record carries its own call's key and the charge its resolution made; the duplicate adds
    none. On PostgreSQL the batch is the one-statement path (its `aud` CTE)."""
    principal = await new_principal(store, 10 * PRICE)
    _, raw = await store.accounts.create_key(principal.account_id, "second", ["*"])
    other = await store.keys.authenticate(raw)
    assert other is not None
    a, b, c = [
        await reserve(store, p, f"req-{n}")
        for n, p in (("a", principal), ("b", other), ("c", principal))
    ]

    def ev(rid: str, reservation: Reservation, key: str, charged: int) -> AuditEvent:
        return dataclasses.replace(
            event(rid, charged), key_id=key, call_id=reservation.id, account_id="acct"
        )

    ledger = store.ledger
    batches, single = ledger.stats.batches, ledger.stats.single_statement
    await asyncio.gather(
        ledger.settle(a, PRICE, ev("req-a", a, principal.key_id, PRICE)),
        ledger.settle(b, PRICE // 5, ev("req-b", b, other.key_id, PRICE // 5)),
        ledger.release(c, ev("req-c", c, principal.key_id, 0)),
        ledger.settle(a, PRICE // 2, ev("req-a-again", a, principal.key_id, PRICE // 2)),
    )
    assert ledger.stats.batches == batches + 1  # the four resolutions shared one batch
    if store.engine.dialect.name == "postgresql":
        assert ledger.stats.single_statement == single + 1
    found = {r.call_id: r for r in await rows(store)}
    assert set(found) == {a.id, b.id, c.id}
    assert (found[a.id].request_id, found[a.id].key_id, found[a.id].credits_charged) == (
        "req-a",
        principal.key_id,
        PRICE,
    )
    assert (found[b.id].request_id, found[b.id].key_id, found[b.id].credits_charged) == (
        "req-b",
        other.key_id,
        PRICE // 5,
    )
    assert (found[c.id].request_id, found[c.id].credits_charged) == ("req-c", 0)
    for reservation in (a, b, c):
        assert (
            await charged_in_ledger(store, reservation.id) == found[reservation.id].credits_charged
        )
    assert await store.accounts.ledger_sum(principal.account_id) == 10 * PRICE - PRICE - PRICE // 5


@pytest.mark.parametrize("kind", ["settle", "release"])
async def test_a_record_quoting_unstorable_text_still_commits_with_its_resolution(
    store: Store, kind: str
) -> None:
    """An upstream's error message with NUL or a lone surrogate (neither database can store
    them as text) must not fail the settle: the record is stored with U+FFFD in their place."""
    principal = await new_principal(store, 10 * PRICE)
    rid = f"req-unstorable-{kind}"
    reservation = await reserve(store, principal, rid)
    quoted = dataclasses.replace(
        event(rid, PRICE if kind == "settle" else 0, "UPSTREAM_ERROR"),
        message="upstream said \x00 and \ud800",
    )
    if kind == "settle":
        await store.ledger.settle(reservation, PRICE, quoted)
    else:
        await store.ledger.release(reservation, quoted)
    [row] = await rows(store, request_id=rid)
    assert row.message == "upstream said \ufffd and \ufffd"
    assert await charged_in_ledger(store, reservation.id) == (PRICE if kind == "settle" else 0)


async def test_a_settles_record_stores_every_value_as_given(store: Store) -> None:
    """What the batch sends (one JSON parameter on PostgreSQL's one-statement path) comes back
    as the event said: quotes, escapes, astral characters, a JSON-looking message, 2 MB, empty
    and absent values, extreme times and floats."""
    principal = await new_principal(store, 100 * PRICE)
    times = [1_764_590_400.0000005, 0.0, 4_102_444_799.999_999_7, 1.5e9, 1_764_590_400.5, 2.0]
    latencies = [0.0, 0.1 + 0.2, 1e-7, 12_345.678_9, 2.0, float(2**53)]
    sent = []
    for i, (message, at, latency) in enumerate(zip(MESSAGES, times, latencies, strict=True)):
        rid = f"req-as-given-{i}"
        reservation = await reserve(store, principal, rid)
        given = dataclasses.replace(
            event(rid, PRICE), message=message, at=at, latency_ms=latency, upstream=message
        )
        await store.ledger.settle(reservation, PRICE, given)
        sent.append((dataclasses.replace(given, call_id=reservation.id), PRICE))
    for given, charged in sent:
        [row] = await rows(store, request_id=given.request_id)
        expected = {**audit_row(given), "credits_charged": charged}
        assert {name: getattr(row, name) for name in expected} == expected


@pytest.mark.parametrize("latency", [float("nan"), float("inf")])
async def test_a_latency_no_format_can_carry_does_not_fail_the_settle(
    store: Store, latency: float
) -> None:
    principal = await new_principal(store, 10 * PRICE)
    reservation = await reserve(store, principal, "req-nan")
    given = dataclasses.replace(event("req-nan", PRICE), latency_ms=latency)
    await store.ledger.settle(reservation, PRICE, given)
    [row] = await rows(store, request_id="req-nan")
    assert (row.latency_ms, row.credits_charged) == (0.0, PRICE)
    assert await charged_in_ledger(store, reservation.id) == PRICE
