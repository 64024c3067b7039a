"""Usage reports: calls, failures and credits per account, key, tool, operation and UTC day.

What it is: `UsageReport.rows(...)`, one GROUP BY over `audit_events` (the gateway writes one
event per call, batched off the request path, so reports cost the hot path nothing), and
`to_csv`. A call is any audited request except replays of an idempotent call (outcome
``REPLAYED``: the first call is already counted), refusals of a name that resolved to no tool
(``TOOL_NOT_FOUND``: the name is the caller's, a made-up one would be listed as a tool; the audit
log keeps the refusal) and pinning's security events (door ``pins``, not calls); a failure is a
call whose outcome is not ``OK``;
credits are what the calls were charged.

What it is not: the ledger. The ledger is the account of money (exact, append-only); the report
is an account of use, read from audit events, which are written within a fraction of a second
of each call and may lag that much.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.errors import ToolNotFound
from toolwire.core.pins import PIN_AUDIT_DOOR
from toolwire.core.records import COLUMNS, UsageRow, parse_day, to_csv
from toolwire.store.tables import audit_events

__all__ = ["COLUMNS", "MAX_ROWS", "UsageReport", "UsageRow", "parse_day", "to_csv"]

MAX_ROWS = 100_000
NOT_CALLS = ("REPLAYED", ToolNotFound.code)
"""Audited outcomes that are not calls of a tool (see the module docstring)."""
_a = audit_events.c


class UsageReport:
    """Reads usage from the audit events over one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def rows(
        self,
        *,
        account_id: str | None = None,
        key_id: str | None = None,
        tool: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[UsageRow]:
        """Grouped rows, oldest day first; `since` and `until` are inclusive UTC days."""
        day: Any = (
            func.date(_a.at)
            if self._engine.dialect.name == "sqlite"
            else cast(func.timezone("UTC", _a.at), Date)
        )
        failed = case((_a.outcome == "OK", 0), else_=1)
        query = (
            select(
                day.label("day"),
                _a.account_id,
                _a.key_id,
                _a.tool,
                _a.operation,
                func.count().label("calls"),
                func.sum(failed).label("failures"),
                func.coalesce(func.sum(_a.credits_charged), 0).label("credits"),
            )
            .where(_a.outcome.not_in(NOT_CALLS), _a.door != PIN_AUDIT_DOOR)
            .group_by(day, _a.account_id, _a.key_id, _a.tool, _a.operation)
            .order_by(day, _a.account_id, _a.key_id, _a.tool, _a.operation)
            .limit(MAX_ROWS)
        )
        if account_id is not None:
            query = query.where(_a.account_id == account_id)
        if key_id is not None:
            query = query.where(_a.key_id == key_id)
        if tool is not None:
            query = query.where(_a.tool == tool)
        if since is not None:
            query = query.where(_a.at >= datetime.combine(since, datetime.min.time(), UTC))
        if until is not None:
            end = datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC)
            query = query.where(_a.at < end)
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return [
                UsageRow(
                    day=str(r.day),
                    account_id=r.account_id,
                    key_id=r.key_id,
                    tool=r.tool,
                    operation=r.operation,
                    calls=int(r.calls),
                    failures=int(r.failures or 0),
                    credits=int(r.credits or 0),
                )
                for r in result
            ]
