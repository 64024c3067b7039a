"""Spend caps as arithmetic (`toolwire.core.budgets`): which windows a reservation counts in, and
which claims fit, decided in arrival order. The counters and their locks are the store's; the
same decisions under real concurrency are in tests/billing/test_billing.py."""

from __future__ import annotations

from datetime import UTC, datetime

from toolwire.core.budgets import (
    NO_CAPS,
    BudgetClaim,
    Caps,
    Windows,
    admit,
    buckets_for,
    deltas_for,
    rows_for,
)

NOW = datetime(2026, 3, 1, 23, 40, 0, tzinfo=UTC)
HOUR, DAY = "h:2026030123", "d:20260301"


def test_budget_windows_are_utc_calendar_hours_and_days() -> None:
    w = Windows.at(datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC))
    assert (w.hour, w.day) == (HOUR, DAY)
    assert w.hour_ends == w.day_ends == datetime(2026, 3, 2, tzinfo=UTC)


def test_claims_are_admitted_in_order_while_they_fit_and_the_rest_say_when_to_retry() -> None:
    caps = Caps(hour=10, day=100)
    claims = [BudgetClaim("k", 6, caps), BudgetClaim("k", 6, caps), BudgetClaim("k", 4, caps)]
    spent = dict.fromkeys(rows_for(claims, NOW), 0)
    assert spent == {("k", HOUR): 0, ("k", DAY): 0}
    verdicts = admit(claims, spent, NOW)
    assert verdicts[0] is None and verdicts[2] is None
    refusal = verdicts[1]
    assert refusal is not None and refusal.code == "BUDGET_EXCEEDED"
    assert refusal.details == {
        "window": "hour",
        "limit": 0.00001,
        "spent": 0.000006,
        "retry_after_s": 20 * 60,
    }
    assert spent == {("k", HOUR): 10, ("k", DAY): 10}


def test_the_first_window_overrun_is_the_one_named() -> None:
    claims = [BudgetClaim("k", 5, Caps(day=7))]
    verdicts = admit(claims, {("k", DAY): 3}, NOW)
    assert verdicts[0] is not None and verdicts[0].details["window"] == "day"


def test_an_uncapped_key_counts_nowhere() -> None:
    assert not NO_CAPS
    assert rows_for([BudgetClaim("k", 5, NO_CAPS)], NOW) == set()
    assert admit([BudgetClaim("k", 5, NO_CAPS)], {}, NOW) == [None]
    assert buckets_for("k", NO_CAPS, NOW) == ("k",)


def test_counters_move_by_what_was_reserved_less_what_came_back() -> None:
    earlier = buckets_for("k", Caps(hour=10), NOW)
    assert earlier == ("k", HOUR)
    deltas = deltas_for([("k", 7, Caps(hour=10, day=20))], [(earlier, 3)], NOW)
    assert deltas == {("k", HOUR): 4, ("k", DAY): 7}
