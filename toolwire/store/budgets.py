"""Spend caps per API key, stored: the `key_spend` counters, locked and moved inside the ledger's
batch transactions so a cap holds exactly under any concurrency and across processes.

What it is: the SQL. `SqlLedger` runs two steps in each batch transaction:

1. `lock_and_admit`: for every budgeted key the batch touches, in sorted (key, window) order, the
   counter rows are created if missing and locked (an upsert that takes the row lock); then the
   core's `toolwire.core.budgets.admit` decides the key's reservations in arrival order. Lock
   order is always counters first (sorted), then accounts (sorted), so two processes never
   deadlock.
2. `apply`: after the account step decided which reservations were affordable, the counters
   move by what was actually reserved, minus what resolutions gave back
   (`toolwire.core.budgets.deltas_for`).

What it is not: the windows, the caps or the "exceeded" decision (`toolwire.core.budgets`), rate
limiting, or the account balance (`SqlLedger`). A reservation released by the reconciler after
its process died does not give its amount back to the counter (it is not known here which window
it counted in): a key's window may stay conservative until it rolls over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Text, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from toolwire.core import budgets
from toolwire.core.budgets import BudgetClaim, Row, Windows
from toolwire.core.errors import BudgetExceeded
from toolwire.store.tables import key_spend

_KEY = bindparam("b_key", type_=Text)
_BUCKET = bindparam("b_bucket", type_=Text)
_DELTA = bindparam("b_delta", type_=BigInteger)
_MOVE = (
    update(key_spend)
    .where(key_spend.c.key_id == _KEY, key_spend.c.bucket == _BUCKET)
    .values(spent=key_spend.c.spent + _DELTA)
)


def _lock_statement(dialect: str) -> Any:
    """INSERT a zero counter or touch the existing one: either way the row is locked for the rest
    of the transaction, and its `spent` comes back."""
    insert = postgresql.insert(key_spend) if dialect == "postgresql" else sqlite.insert(key_spend)
    return (
        insert.values(key_id=_KEY, bucket=_BUCKET, spent=0)
        .on_conflict_do_update(
            index_elements=[key_spend.c.key_id, key_spend.c.bucket],
            set_={"spent": key_spend.c.spent},
        )
        .returning(key_spend.c.spent)
    )


def lock_and_admit(
    conn: Connection,
    now: datetime,
    requests: list[BudgetClaim],
    giving_back: Iterable[Row],
) -> tuple[dict[Row, int], list[BudgetExceeded | None]]:
    """Lock every counter row this batch will move (sorted), then let the core decide each
    request in order (`toolwire.core.budgets.admit`).

    `giving_back` lists the (key, bucket) rows resolutions will credit. Returns the locked rows'
    `spent` (after the tentatively admitted requests) and, per request, None (admitted) or the
    refusal."""
    rows = set(giving_back) | budgets.rows_for(requests, now)
    stmt = _lock_statement(conn.dialect.name)
    spent: dict[Row, int] = {}
    for key, bucket in sorted(rows):
        found: int = conn.execute(stmt, {"b_key": key, "b_bucket": bucket}).scalar_one()
        spent[key, bucket] = int(found)
    return spent, budgets.admit(requests, spent, now)


def apply(conn: Connection, deltas: Mapping[Row, int]) -> None:
    """Move the (locked) counters by what the batch finally reserved minus what came back."""
    rows = [
        {"b_key": key, "b_bucket": bucket, "b_delta": delta}
        for (key, bucket), delta in sorted(deltas.items())
        if delta
    ]
    if rows:
        conn.execute(_MOVE, rows)


async def spent_now(conn: Any, key_id: str, now: datetime) -> dict[str, int]:
    """What a key has spent in the current hour and day (for administration)."""
    windows = Windows.at(now)
    query = select(key_spend.c.bucket, key_spend.c.spent).where(
        key_spend.c.key_id == key_id, key_spend.c.bucket.in_([windows.hour, windows.day])
    )
    found = {row.bucket: int(row.spent) for row in await conn.execute(query)}
    return {"hour": found.get(windows.hour, 0), "day": found.get(windows.day, 0)}
