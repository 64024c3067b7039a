"""Reading, exporting and pruning the audit records (`audit_events`): `AuditLog`.

What it is:

- `page(filter, limit, cursor)`: newest first, at most `MAX_PAGE` records, and the cursor of the
  next page (None at the end). The cursor is opaque to callers (today the last id, as text);
  records written while paging never shift a page.
- `export(filter)`: every matching record, oldest first, read in pages of `EXPORT_PAGE` so a
  year of records streams in constant memory.
- `prune(before, batch)`: deletes records older than `before`, `batch` rows per statement (each
  its own short transaction, so writers are never blocked for long); returns how many.
- `run_retention(retention_s, interval_s)`: the background task that prunes every `interval_s`.

What it is not: the writer (`toolwire.store.audit_sink.SqlAuditSink`) nor the usage report.
Filters are `toolwire.core.records.AuditFilter`; times are aware UTC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.errors import InvalidRequest
from toolwire.core.latency import REACHED_UPSTREAM, LatencySample
from toolwire.core.records import AuditFilter, AuditRecord
from toolwire.store.audit_sink import record_of
from toolwire.store.tables import audit_events

log = logging.getLogger("toolwire.store.audit")

MAX_PAGE = 1000
EXPORT_PAGE = 1000
PRUNE_BATCH = 1000
_a = audit_events.c


def _where(query: Select[Any], f: AuditFilter) -> Select[Any]:
    if f.account_id is not None:
        query = query.where(_a.account_id == f.account_id)
    if f.key_id is not None:
        query = query.where(_a.key_id == f.key_id)
    if f.tool is not None:
        query = query.where(_a.tool == f.tool)
    if f.outcome is not None:
        query = query.where(_a.outcome == f.outcome)
    if f.since is not None:
        query = query.where(_a.at >= f.since)
    if f.until is not None:
        query = query.where(_a.at < f.until)
    return query


def parse_cursor(cursor: str | None) -> int | None:
    """The id a cursor stands for; `InvalidRequest` for one this API did not hand out."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise InvalidRequest("'cursor' is not a cursor this API returned", details={})
    return int(cursor)


class AuditLog:
    """Reads and prunes `audit_events` over one engine. `flush`: the writer's flush, awaited
    before each read, so this process's own calls are always in what it reads (records of other
    processes appear within their writer's interval, about 200 ms)."""

    def __init__(
        self, engine: AsyncEngine, flush: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        self._engine = engine
        self._flush = flush

    async def page(
        self, where: AuditFilter, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[AuditRecord], str | None]:
        """Up to `limit` (1..`MAX_PAGE`) records, newest first, after `cursor`; and the next
        cursor, None when there is nothing more."""
        limit = max(1, min(int(limit), MAX_PAGE))
        if self._flush is not None:
            await self._flush()
        query = _where(select(audit_events), where).order_by(_a.id.desc()).limit(limit + 1)
        after = parse_cursor(cursor)
        if after is not None:
            query = query.where(_a.id < after)
        async with self._engine.connect() as conn:
            records = [record_of(row) for row in await conn.execute(query)]
        more = len(records) > limit
        records = records[:limit]
        return records, (str(records[-1].id) if more and records else None)

    async def export(self, where: AuditFilter) -> AsyncIterator[AuditRecord]:
        """Every matching record, oldest first, read `EXPORT_PAGE` at a time."""
        last = 0
        if self._flush is not None:
            await self._flush()
        while True:
            query = (
                _where(select(audit_events), where)
                .where(_a.id > last)
                .order_by(_a.id)
                .limit(EXPORT_PAGE)
            )
            async with self._engine.connect() as conn:
                rows = [record_of(row) for row in await conn.execute(query)]
            for record in rows:
                yield record
            if len(rows) < EXPORT_PAGE:
                return
            last = rows[-1].id

    async def latency_samples(self, since: datetime, limit: int) -> list[LatencySample]:
        """(upstream, time, latency) of the newest `limit` calls since `since` that reached an
        upstream (`toolwire.core.latency.REACHED_UPSTREAM`), newest first (for
        `Admin.upstream_latency`)."""
        if self._flush is not None:
            await self._flush()
        query = (
            select(_a.upstream, _a.at, _a.latency_ms)
            .where(_a.at >= since, _a.upstream.is_not(None), _a.outcome.in_(REACHED_UPSTREAM))
            .order_by(_a.id.desc())
            .limit(max(1, int(limit)))
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [LatencySample(r.upstream, r.at, float(r.latency_ms)) for r in rows]

    async def prune(self, before: datetime, batch: int = PRUNE_BATCH) -> int:
        """Delete records older than `before`, `batch` (>= 1) rows per transaction."""
        batch = max(1, int(batch))
        total = 0
        while True:
            ids = select(_a.id).where(_a.at < before).order_by(_a.id).limit(batch)
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    delete(audit_events).where(_a.id.in_(ids.scalar_subquery()))
                )
            deleted = int(result.rowcount or 0)
            total += deleted
            if deleted < batch:
                return total
            await asyncio.sleep(0)  # let calls in between batches

    async def run_retention(
        self, retention_s: float, interval_s: float = 3600.0, batch: int = PRUNE_BATCH
    ) -> None:
        """Prune records older than `retention_s` now and every `interval_s`, until cancelled."""
        while True:
            cutoff = datetime.now(UTC) - timedelta(seconds=retention_s)
            try:
                pruned = await self.prune(cutoff, batch)
                if pruned:
                    log.info("audit retention: %d record(s) older than %s pruned", pruned, cutoff)
            except Exception:
                log.exception("audit retention: pruning failed; trying again later")
            await asyncio.sleep(interval_s)
