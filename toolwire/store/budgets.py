"""Spend caps per API key, per UTC hour and per UTC day, enforced inside the ledger's batches.

What it is: the `key_spend` counters (micro-credits reserved net of what came back, per key and
window) and the two steps `SqlLedger` runs in each batch transaction, so a cap holds exactly
under any concurrency and across processes:

1. `lock_and_admit`: for every budgeted key the batch touches, in sorted (key, window) order, the
   counter rows are created if missing and locked (an upsert that takes the row lock), then the
   key's reservations are admitted in arrival order while they fit under both caps; the others
   are refused with `BudgetExceeded`. Lock order is always counters first (sorted), then accounts
   (sorted), so two processes never deadlock.
2. `apply`: after the account step decided which reservations were affordable, the counters
   move by what was actually reserved, minus what resolutions gave back.

Windows are calendar windows in UTC (not sliding): a key capped at 10 credits per hour may spend
10 between 10:00 and 11:00. A refusal says which window and when it resets (`retry_after_s`).

What it is not: rate limiting (calls per second) nor the account balance (`SqlLedger`); the caps
themselves live on `api_keys` and reach the ledger on the `Principal`. A reservation released by
the reconciler after its process died does not give its amount back to the counter (it is not
known here which window it counted in): a key's window may stay conservative until it rolls over.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Text, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from toolwire.core.errors import BudgetExceeded
from toolwire.core.model import micro_to_credits
from toolwire.store.tables import key_spend

WINDOWS = ("hour", "day")


@dataclass(frozen=True, slots=True)
class Caps:
    """A key's caps in micro-credits; None: no cap for that window."""

    hour: int | None = None
    day: int | None = None

    def get(self, window: str) -> int | None:
        return self.hour if window == "hour" else self.day

    def __bool__(self) -> bool:
        return self.hour is not None or self.day is not None


@dataclass(frozen=True, slots=True)
class Windows:
    """The counter rows one reservation counts in: (hour bucket, day bucket), and their ends."""

    hour: str
    day: str
    hour_ends: datetime
    day_ends: datetime

    @classmethod
    def at(cls, now: datetime) -> Windows:
        hour = now.replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        return cls(
            "h:" + hour.strftime("%Y%m%d%H"),
            "d:" + day.strftime("%Y%m%d"),
            hour + timedelta(hours=1),
            day + timedelta(days=1),
        )

    def bucket(self, window: str) -> str:
        return self.hour if window == "hour" else self.day

    def ends(self, window: str) -> datetime:
        return self.hour_ends if window == "hour" else self.day_ends


NO_CAPS = Caps()

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


@dataclass(frozen=True, slots=True)
class BudgetClaim:
    """One reservation asking to count against its key's caps."""

    key_id: str
    amount: int
    caps: Caps


def lock_and_admit(
    conn: Connection,
    now: datetime,
    requests: list[BudgetClaim],
    giving_back: Iterable[tuple[str, str]],
) -> tuple[dict[tuple[str, str], int], list[BudgetExceeded | None]]:
    """Lock every counter row this batch will move (sorted) and decide each request in order.

    `giving_back` lists the (key, bucket) rows resolutions will credit. Returns the locked rows'
    `spent` (after the tentatively admitted requests) and, per request, None (admitted) or the
    refusal."""
    windows = Windows.at(now)
    rows = {(key, bucket) for key, bucket in giving_back}
    for req in requests:
        for window in WINDOWS:
            if req.caps.get(window) is not None:
                rows.add((req.key_id, windows.bucket(window)))
    stmt = _lock_statement(conn.dialect.name)
    spent: dict[tuple[str, str], int] = {}
    for key, bucket in sorted(rows):
        found: int = conn.execute(stmt, {"b_key": key, "b_bucket": bucket}).scalar_one()
        spent[key, bucket] = int(found)
    verdicts: list[BudgetExceeded | None] = []
    for req in requests:
        refusal = None
        for window in WINDOWS:
            cap = req.caps.get(window)
            if cap is None:
                continue
            used = spent[req.key_id, windows.bucket(window)]
            if used + req.amount > cap:
                refusal = _exceeded(window, cap, used, windows.ends(window) - now)
                break
        if refusal is None:
            for window in WINDOWS:
                if req.caps.get(window) is not None:
                    spent[req.key_id, windows.bucket(window)] += req.amount
        verdicts.append(refusal)
    return spent, verdicts


def apply(conn: Connection, deltas: Mapping[tuple[str, str], int]) -> None:
    """Move the (locked) counters by what the batch finally reserved minus what came back."""
    rows = [
        {"b_key": key, "b_bucket": bucket, "b_delta": delta}
        for (key, bucket), delta in sorted(deltas.items())
        if delta
    ]
    if rows:
        conn.execute(_MOVE, rows)


def deltas_for(
    reserved: Iterable[tuple[str, int, Caps]],
    given_back: Iterable[tuple[tuple[str, ...], int]],
    now: datetime,
) -> dict[tuple[str, str], int]:
    """Counter moves: +amount in each capped window for what was reserved, -credit in the
    windows a resolved reservation had counted in."""
    windows = Windows.at(now)
    deltas: dict[tuple[str, str], int] = defaultdict(int)
    for key_id, amount, caps in reserved:
        for window in WINDOWS:
            if caps.get(window) is not None:
                deltas[key_id, windows.bucket(window)] += amount
    for rows, credit in given_back:
        key_id, *buckets = rows
        for bucket in buckets:
            deltas[key_id, bucket] -= credit
    return deltas


def buckets_for(key_id: str, caps: Caps, now: datetime) -> tuple[str, ...]:
    """(key_id, bucket, ...) for the windows a reservation made now counts in."""
    windows = Windows.at(now)
    return (key_id, *(windows.bucket(w) for w in WINDOWS if caps.get(w) is not None))


def _exceeded(window: str, cap: int, used: int, left: timedelta) -> BudgetExceeded:
    return BudgetExceeded(
        f"this key's {window}ly budget is used up",
        details={
            "window": window,
            "limit": micro_to_credits(cap),
            "spent": micro_to_credits(used),
            "retry_after_s": max(1, int(left.total_seconds() + 0.999)),
        },
    )


async def spent_now(conn: Any, key_id: str, now: datetime) -> dict[str, int]:
    """What a key has spent in the current hour and day (for administration)."""
    windows = Windows.at(now)
    query = select(key_spend.c.bucket, key_spend.c.spent).where(
        key_spend.c.key_id == key_id, key_spend.c.bucket.in_([windows.hour, windows.day])
    )
    found = {row.bucket: int(row.spent) for row in await conn.execute(query)}
    return {"hour": found.get(windows.hour, 0), "day": found.get(windows.day, 0)}
