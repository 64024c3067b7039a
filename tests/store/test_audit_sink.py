"""The audit sink: never blocks a call, writes in batches, loses nothing on close."""

from __future__ import annotations

import time

from toolwire.core.model import AuditEvent
from toolwire.store import Store
from toolwire.store.audit_sink import SqlAuditSink


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
