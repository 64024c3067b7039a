"""Reading, exporting and pruning audit records over SQLite and PostgreSQL: filters, cursor
pages that never shift, streamed export oldest first, bounded pruning batches, and kept
arguments stored only through the redactor."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from toolwire.core.errors import InvalidRequest
from toolwire.core.model import AuditEvent
from toolwire.core.records import AuditFilter, audit_filter
from toolwire.store import Store
from toolwire.store.audit_log import AuditLog
from toolwire.vault import Redactor

SECRET = "sk-live-audit-secret-0123456789abcdef"


def event(i: int, *, at: float | None = None, **over: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "request_id": f"req-{i}",
        "at": time.time() if at is None else at,
        "account_id": "acc_a" if i % 2 else "acc_b",
        "key_id": f"key_{i % 3}",
        "tool": "echo" if i % 4 else "calc",
        "operation": "echo",
        "door": "rest",
        "outcome": "OK" if i % 5 else "UPSTREAM_ERROR",
        "credits_charged": 250_000,
        "latency_ms": 1.5,
        "upstream": "local",
        "arguments_digest": "hmac-sha256:" + "0" * 64,
    }
    fields.update(over)
    return AuditEvent(**fields)


async def fill(store: Store, n: int, **over: Any) -> None:
    for i in range(n):
        store.audit.record(event(i, **over))
    await store.audit.flush()


async def test_pages_follow_the_cursor_newest_first_and_filter(store: Store) -> None:
    await fill(store, 40)
    log = AuditLog(store.engine)
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = await log.page(AuditFilter(account_id="acc_a"), 7, cursor)
        store.audit.record(event(1000 + len(seen)))  # new records never shift a page
        await store.audit.flush()
        seen += [r.request_id for r in page]
        if cursor is None:
            break
    assert seen == [f"req-{i}" for i in range(39, 0, -2)]
    only = AuditFilter(tool="calc", outcome="UPSTREAM_ERROR", key_id="key_2")
    page, _ = await log.page(only, 100)
    assert {r.request_id for r in page} == {"req-20"}
    record = page[0].to_dict()
    assert record["credits_charged"] == 0.25 and record["upstream"] == "local"
    assert record["credential_source"] == "none" and record["arguments"] is None
    with pytest.raises(InvalidRequest):
        await log.page(AuditFilter(), 10, "not-a-cursor")


async def test_time_filters_and_export_stream_oldest_first(store: Store) -> None:
    old = time.time() - 3 * 86400
    for i in range(5):
        store.audit.record(event(i, at=old))
    await fill(store, 2500)
    log = AuditLog(store.engine)
    recent = audit_filter(since="1d")
    exported = [r.request_id async for r in log.export(recent)]
    assert len(exported) == 2500  # three export pages
    assert exported[:2] == ["req-0", "req-1"] and exported[-1] == "req-2499"
    older = audit_filter(until="2d")
    assert [r.request_id async for r in log.export(older)] == [f"req-{i}" for i in range(5)]


async def test_pruning_deletes_only_older_records_in_bounded_batches(store: Store) -> None:
    old = time.time() - 10 * 86400
    for i in range(25):
        store.audit.record(event(i, at=old))
    await fill(store, 3)
    log = AuditLog(store.engine)
    pruned = await log.prune(datetime.now(UTC) - timedelta(days=1), batch=4)
    assert pruned == 25
    left = [r.request_id async for r in log.export(AuditFilter())]
    assert left == ["req-0", "req-1", "req-2"]
    assert await log.prune(datetime.now(UTC) - timedelta(days=1), batch=4) == 0


async def test_kept_arguments_are_stored_redacted_and_only_with_a_redactor(store: Store) -> None:
    args = {"query": f"token {SECRET}", "n": 3}
    store.audit.record(event(1, arguments=args))  # no redactor yet: not kept at all
    await store.audit.flush()
    store.audit.redact = Redactor([SECRET]).scrub_obj
    store.audit.record(event(2, arguments=args))
    store.audit.record(event(3))
    await store.audit.flush()
    page, _ = await AuditLog(store.engine).page(AuditFilter(), 10)
    by_id = {r.request_id: r for r in page}
    assert by_id["req-1"].arguments is None
    assert by_id["req-3"].arguments is None
    kept = by_id["req-2"].arguments
    assert kept["n"] == 3 and SECRET not in kept["query"] and kept["query"].startswith("token ")


def test_times_parse_relative_and_iso_and_refuse_the_rest() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    f = audit_filter(since="90m", until="2026-11-30T11:59:00", outcome="ok", now=now)
    assert f.since == now - timedelta(minutes=90)
    assert f.until == datetime(2026, 11, 30, 11, 59, tzinfo=UTC)
    assert f.outcome == "OK"
    for bad in ("yesterday", "1y", "-5m", "9999999999999999d"):
        with pytest.raises(InvalidRequest):
            audit_filter(since=bad, now=now)
    with pytest.raises(InvalidRequest):
        audit_filter(since="1h", until="2h", now=now)
