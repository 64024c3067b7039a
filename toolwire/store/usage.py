"""Usage reports: calls, failures and credits per account, key, tool, operation and UTC day.

What it is: `UsageReport.rows(...)`, one GROUP BY over `audit_events` (the gateway writes one
event per call, batched off the request path, so reports cost the hot path nothing), and
`to_csv`. A call is any audited request except replays of an idempotent call (outcome
``REPLAYED``: the first call is already counted); a failure is a call whose outcome is not ``OK``;
credits are what the calls were charged.

What it is not: the ledger. The ledger is the account of money (exact, append-only); the report
is an account of use, read from audit events, which are written within a fraction of a second
of each call and may lag that much.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.errors import InvalidRequest
from toolwire.core.model import micro_to_credits
from toolwire.store.tables import audit_events

MAX_ROWS = 100_000
COLUMNS = ("day", "account_id", "key_id", "tool", "operation", "calls", "failures", "credits")

_a = audit_events.c


@dataclass(frozen=True, slots=True)
class UsageRow:
    day: str
    account_id: str | None
    key_id: str | None
    tool: str | None
    operation: str | None
    calls: int
    failures: int
    credits: int
    """Micro-credits."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "account_id": self.account_id,
            "key_id": self.key_id,
            "tool": self.tool,
            "operation": self.operation,
            "calls": self.calls,
            "failures": self.failures,
            "credits": micro_to_credits(self.credits),
        }


def parse_day(text: str | None, what: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"'{what}' must be a date like 2026-01-31", details={what: text}
        ) from None


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
            .where(_a.outcome != "REPLAYED")
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


def to_csv(rows: Iterable[UsageRow]) -> str:
    """The rows as CSV with a header line; credits as decimal credits."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        d = row.to_dict()
        writer.writerow(["" if d[c] is None else d[c] for c in COLUMNS])
    return out.getvalue()
