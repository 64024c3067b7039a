"""The audit sink: never blocks a call, writes in batches, loses nothing on close."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import select

from toolwire.core.model import AuditEvent
from toolwire.store import Store
from toolwire.store._common import sqlite_timestamp
from toolwire.store.audit_sink import (
    AUDIT_COLUMNS,
    SQLITE_AUDIT_ROWS,
    SqlAuditSink,
    audit_row,
    audit_values,
    insert_sqlite_audit,
    record_of,
    sqlite_audit_values,
    sqlite_unix_timestamp,
)
from toolwire.store.db import sqlite_write_lock
from toolwire.store.tables import audit_events
from toolwire.vault import Redactor

SECRET = "sk-live-audit-secret-0123456789abcdef"


def _event(i: int, account_id: str = "acc_a", outcome: str = "OK") -> AuditEvent:
    return AuditEvent(
        request_id=f"req-{i}",
        at=time.time(),
        account_id=account_id,
        key_id="key",
        tool="search",
        operation="web",
        door="rest",
        outcome=outcome,
        credits_charged=25_000,
        latency_ms=1.5,
        credential_source="vault",
        message=None,
    )


async def test_the_audit_sink_writes_everything_on_close(db_url: str) -> None:
    first = await Store.open(db_url)
    for i in range(1_200):
        first.audit.record(_event(i))
    await first.close()
    second = await Store.open(db_url)
    try:
        recent = await second.audit.recent(limit=1_000)
        assert len(recent) == 1_000
        assert recent[0].request_id == "req-1199"
        assert second.audit.dropped == 0
    finally:
        await second.close()


async def test_recent_returns_the_newest_events_of_an_account(store: Store) -> None:
    for i in range(5):
        store.audit.record(_event(i, "acc_a"))
        store.audit.record(_event(i, "acc_b", outcome="INSUFFICIENT_CREDITS"))
    recent = await store.audit.recent(limit=3, account_id="acc_b")
    assert [r.request_id for r in recent] == ["req-4", "req-3", "req-2"]
    body = recent[0].to_dict()
    assert body["outcome"] == "INSUFFICIENT_CREDITS"
    assert body["credits_charged"] == 0.025
    assert body["at"].endswith("Z")


async def test_a_full_buffer_drops_the_oldest_events_and_counts_them(store: Store) -> None:
    sink = SqlAuditSink(store.engine, max_buffer=5)
    for i in range(8):
        sink.record(_event(i, "acc_small"))
    assert sink.dropped == 3
    await sink.close()
    recent = await store.audit.recent(account_id="acc_small")
    assert [r.request_id for r in recent] == [f"req-{i}" for i in (7, 6, 5, 4, 3)]


# The batch write: a few statements per batch, the same rows as one INSERT per event.


def _call(i: int, call_id: str | None, **over: Any) -> AuditEvent:
    """An event with a chosen call id (None: a row as written before migration 0007)."""
    return replace(_event(i), call_id=cast(str, call_id), **over)


async def _stored(store: Store) -> list[Any]:
    """Every audit row, oldest first."""
    async with store.engine.connect() as conn:
        return list(await conn.execute(select(audit_events).order_by(audit_events.c.id)))


async def test_a_batch_stores_each_call_once_whatever_it_repeats(store: Store) -> None:
    store.audit.record(_call(1, "call_a"))
    await store.audit.flush()
    for event in (
        _call(2, "call_a"),  # stored by an earlier batch
        _call(3, "call_b"),
        _call(4, "call_b"),  # twice in this batch
        _call(5, "call_c"),
        _call(6, "call_b"),
    ):
        store.audit.record(event)
    await store.audit.flush()
    rows = await _stored(store)
    assert [(r.call_id, r.request_id) for r in rows] == [
        ("call_a", "req-1"),
        ("call_b", "req-3"),
        ("call_c", "req-5"),
    ]


async def test_records_without_a_call_id_are_each_stored(store: Store) -> None:
    for i in range(4):
        store.audit.record(_call(i, None))
    store.audit.record(_call(4, "call_x"))
    store.audit.record(_call(5, None))
    await store.audit.flush()
    rows = await _stored(store)
    assert [(r.request_id, r.call_id) for r in rows] == [
        *((f"req-{i}", None) for i in range(4)),
        ("req-4", "call_x"),
        ("req-5", None),
    ]


MESSAGES = [
    None,
    "",
    "ünïcødé ✓ 中文 𝄞 🎉 e\u0301 \u200b \U0010fffd",
    "quotes ' \" ; -- ) ? $1 :name %s \\ \\u0000 \t\r\n",
    "x" * 2_000_000,  # 2 MB
    '{"json": [1, 2.5, null]}',
]


async def test_a_batch_stores_every_value_as_given(store: Store) -> None:
    store.audit.redact = Redactor([SECRET]).scrub_obj
    events = [
        _call(
            i,
            f"call_{i}",
            message=message,
            at=at,
            credits_charged=charge,
            latency_ms=latency,
            arguments={"q": f"use {SECRET} ✓", "n": i} if i % 2 else None,
            upstream="local" if i % 3 else None,
        )
        for i, (message, at, charge, latency) in enumerate(
            zip(
                MESSAGES,
                [1_764_590_400.0000005, 0.0, 4_102_444_799.999_999_7, 1.5e9, 1_764_590_400.5, 2.0],
                [0, 1, 10**15, 25_000, 7, 0],
                [0.0, 0.1 + 0.2, 1e-7, 12_345.678_9, 2.0, float(2**53)],
                strict=True,
            )
        )
    ]
    for event in events:
        store.audit.record(event)
    await store.audit.flush()
    rows = await _stored(store)
    assert [record_of(row) for row in rows] == [
        record_of(SimpleNamespace(id=row.id, **audit_row(e, store.audit.redact)))
        for row, e in zip(rows, events, strict=True)
    ]
    assert [row.call_id for row in rows] == [e.call_id for e in events]
    kept = [r.arguments for r in rows if r.arguments is not None]
    assert len(kept) == 3 and all(SECRET not in a and "✓" in a for a in kept)


UNSTORABLE = ["nul \x00 inside", "lone \ud800 surrogate", "\udfff\x00 both é", "\x00"]


async def test_text_no_database_can_hold_is_stored_replaced_and_blocks_nothing(
    store: Store,
) -> None:
    """NUL (PostgreSQL's text refuses it) and lone surrogates (no UTF-8 encoder takes them): a
    tool name as a client sent it, an upstream's error message. Each becomes U+FFFD; the record
    is stored, and so is every record behind it in the batch and after it."""
    events = [
        _call(i, f"call_u{i}", tool=text, operation=text, message=text, upstream=text)
        for i, text in enumerate(UNSTORABLE)
    ]
    for event in [*events, _call(9, "call_plain")]:
        store.audit.record(event)
    await store.audit.flush()
    store.audit.record(_call(10, "call_after"))
    await store.audit.flush()
    rows = await _stored(store)
    assert [r.call_id for r in rows] == [*(e.call_id for e in events), "call_plain", "call_after"]
    for row, text in zip(rows, UNSTORABLE, strict=False):
        want = (
            text.replace("\x00", "\ufffd").replace("\ud800", "\ufffd").replace("\udfff", "\ufffd")
        )
        assert (row.tool, row.operation, row.message, row.upstream) == (want,) * 4


@pytest.mark.parametrize("latency", [math.nan, math.inf, -math.inf])
async def test_a_latency_no_format_can_carry_is_stored_as_zero_and_blocks_nothing(
    store: Store, latency: float
) -> None:
    """NaN and infinities (JSON, the PostgreSQL batches' parameter format, has no number for
    them): the record is stored with 0.0, and so is the one behind it."""
    store.audit.record(_call(1, "call_nan", latency_ms=latency))
    store.audit.record(_call(2, "call_next"))
    await store.audit.flush()
    rows = await _stored(store)
    assert [(r.call_id, r.latency_ms) for r in rows] == [("call_nan", 0.0), ("call_next", 1.5)]


def _variable_limit() -> int:
    """The most parameters one statement of this SQLite build may have."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        return conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


async def test_a_batch_larger_than_a_statements_parameter_limit_is_stored_in_order(
    store: Store,
) -> None:
    count = max(_variable_limit(), 65_535) // len(AUDIT_COLUMNS) + 100
    sink = SqlAuditSink(store.engine, batch_size=count, max_buffer=count)
    for i in range(count - 1):
        sink.record(_call(i, f"call_{i:06d}" if i % 7 else None))
    sink.record(_call(count, "call_000001"))  # a repeat, at the very end
    assert await sink.flush() == count  # in one batch (`batch_size`)
    await sink.close()
    async with store.engine.connect() as conn:
        rows = list(await conn.execute(select(audit_events.c.request_id).order_by("id")))
    assert [r.request_id for r in rows] == [f"req-{i}" for i in range(count - 1)]


async def test_sqlite_statements_stay_under_the_connections_parameter_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    await (await Store.open(f"sqlite+aiosqlite:///{path}")).close()
    rows = [audit_values(_call(i, f"call_{i % 5}")) for i in range(11)]
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 3 * len(AUDIT_COLUMNS) + 1)
        with raw:
            insert_sqlite_audit(raw, rows)  # 64 rows a statement would be refused
        stored = raw.execute("SELECT request_id FROM audit_events ORDER BY id").fetchall()
    assert [r[0] for r in stored] == [f"req-{i}" for i in range(5)]


def test_sqlite_values_are_the_rows_values() -> None:
    redact = Redactor([SECRET]).scrub_obj
    for i, message in enumerate(MESSAGES):
        event = _call(i, f"call_{i}", message=message, arguments={"k": SECRET, "i": i})
        assert audit_values(event, redact) == sqlite_audit_values(audit_row(event, redact))
        assert audit_values(event) == sqlite_audit_values(audit_row(event))
    picks = random.Random(14)
    times = [0.0, 0.5, 0.000_000_5, 0.000_001_5, 0.999_999_5, 0.999_999_6, 1e9 + 0.999_999_5]
    times += [picks.uniform(0, 4.1e9) for _ in range(20_000)]
    now = int(time.time())
    times += [
        now + picks.randrange(10**6) / 1e6 + picks.choice((0, 5e-7, -5e-7)) for _ in range(20_000)
    ]
    for at in times:
        assert sqlite_unix_timestamp(at) == sqlite_timestamp(datetime.fromtimestamp(at, UTC)), at


@pytest.mark.parametrize("holder", ["this process's writer thread", "another process"])
async def test_sqlite_records_wait_for_another_writer_and_are_all_stored(
    store: Store, holder: str
) -> None:
    """The sink commits on the loop when the file is free; when another writer has it (this
    process's ledger thread: `db.sqlite_write_lock`; another process: SQLITE_BUSY at once on
    the loop) the chunk goes to the writer thread, which waits for it, and nothing is lost."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single writer")
    database = store.engine.url.database
    assert database is not None
    lock = sqlite_write_lock(store.engine)
    other = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        if holder == "another process":
            other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock, as a second process would
        else:
            lock.acquire()
        for i in range(3 * SQLITE_AUDIT_ROWS + 5):
            store.audit.record(_call(i, f"call_w{i}"))
        flushing = asyncio.ensure_future(store.audit.flush())
        await asyncio.sleep(0.3)
        assert not flushing.done()  # waiting for the other writer, not failing
        if holder == "another process":
            other.execute("COMMIT")
        else:
            lock.release()
        await asyncio.wait_for(flushing, 30)
    finally:
        if lock.locked() and holder != "another process":
            lock.release()
        other.close()
    rows = await _stored(store)
    assert [r.call_id for r in rows] == [f"call_w{i}" for i in range(3 * SQLITE_AUDIT_ROWS + 5)]
