"""Spend caps per API key: the windows, the caps, and the decision whether a reservation fits.

What it is: pure arithmetic over numbers the store read. `Windows.at(now)` names the UTC calendar
hour and day a reservation made `now` counts in (not sliding: a key capped at 10 credits per
hour may spend 10 between 10:00 and 11:00); `admit` decides, in arrival order, which claims fit
under both caps given what each window has spent, and says for a refusal which window it hit and
when that window resets (`BudgetExceeded`, `details.retry_after_s`); `deltas_for` and
`buckets_for` say how the counters move.

What it is not: the counters or their locking, which must happen in the same transaction as the
reservation a cap limits (`toolwire.store.budgets`), nor the balance (the ledger).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from toolwire.core.errors import BudgetExceeded
from toolwire.core.model import micro_to_credits

WINDOWS = ("hour", "day")

Row = tuple[str, str]
"""(key id, window bucket): one spend counter."""


@dataclass(frozen=True, slots=True)
class Caps:
    """A key's caps in micro-credits; None: no cap for that window."""

    hour: int | None = None
    day: int | None = None

    def get(self, window: str) -> int | None:
        return self.hour if window == "hour" else self.day

    def __bool__(self) -> bool:
        return self.hour is not None or self.day is not None


NO_CAPS = Caps()


@dataclass(frozen=True, slots=True)
class Windows:
    """The counter buckets one reservation counts in: (hour bucket, day bucket), and their ends."""

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


@dataclass(frozen=True, slots=True)
class BudgetClaim:
    """One reservation asking to count against its key's caps (`amount` in micro-credits)."""

    key_id: str
    amount: int
    caps: Caps


def rows_for(claims: Iterable[BudgetClaim], now: datetime) -> set[Row]:
    """The counter rows `claims` made `now` are checked against."""
    windows = Windows.at(now)
    return {
        (claim.key_id, windows.bucket(window))
        for claim in claims
        for window in WINDOWS
        if claim.caps.get(window) is not None
    }


def admit(
    claims: Iterable[BudgetClaim], spent: MutableMapping[Row, int], now: datetime
) -> list[BudgetExceeded | None]:
    """Per claim, in order: None (admitted; `spent` grows by its amount in each capped window)
    or the refusal naming the first window it would overrun. `spent` must hold every row
    `rows_for(claims, now)` names."""
    windows = Windows.at(now)
    verdicts: list[BudgetExceeded | None] = []
    for claim in claims:
        refusal = None
        for window in WINDOWS:
            cap = claim.caps.get(window)
            if cap is None:
                continue
            used = spent[claim.key_id, windows.bucket(window)]
            if used + claim.amount > cap:
                refusal = exceeded(window, cap, used, windows.ends(window) - now)
                break
        if refusal is None:
            for window in WINDOWS:
                if claim.caps.get(window) is not None:
                    spent[claim.key_id, windows.bucket(window)] += claim.amount
        verdicts.append(refusal)
    return verdicts


def deltas_for(
    reserved: Iterable[tuple[str, int, Caps]],
    given_back: Iterable[tuple[tuple[str, ...], int]],
    now: datetime,
) -> dict[Row, int]:
    """Counter moves: +amount in each capped window for what was reserved, -credit in the
    windows a resolved reservation had counted in (`buckets_for`'s tuple)."""
    windows = Windows.at(now)
    deltas: dict[Row, int] = defaultdict(int)
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


def exceeded(window: str, cap: int, used: int, left: timedelta) -> BudgetExceeded:
    """The refusal of a claim over `window`'s `cap` with `used` spent and `left` until reset."""
    return BudgetExceeded(
        f"this key's {window}ly budget is used up",
        details={
            "window": window,
            "limit": micro_to_credits(cap),
            "spent": micro_to_credits(used),
            "retry_after_s": max(1, int(left.total_seconds() + 0.999)),
        },
    )
