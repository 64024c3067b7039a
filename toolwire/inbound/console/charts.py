"""Usage rows into what the console's charts draw: calls per tool per day, credits per day,
latency per upstream over time (`latency_over_time`).

Shapes (Chart.js `data` objects, JSON-ready): `{"labels": [day, ...], "datasets": [{"label":
tool, "data": [calls, ...]}, ...]}` and `{"labels": [day, ...], "datasets": [{"label":
"credits", "data": [credits, ...]}]}`; days are ISO dates (UTC), credits decimal numbers.
Days without calls between the first and the last are filled with zeros, so bars line up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from toolwire.core.latency import LatencySeries
from toolwire.core.model import micro_to_credits
from toolwire.core.records import UsageRow


def _days(rows: list[UsageRow]) -> list[str]:
    if not rows:
        return []
    first, last = date.fromisoformat(rows[0].day), date.fromisoformat(rows[-1].day)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def calls_by_tool(rows: Iterable[UsageRow]) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: r.day)
    days = _days(ordered)
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in ordered:
        per[row.tool or "(none)"][row.day] += row.calls
    datasets = [
        {"label": tool, "data": [counts.get(d, 0) for d in days]}
        for tool, counts in sorted(per.items())
    ]
    return {"labels": days, "datasets": datasets}


def credits_by_day(rows: Iterable[UsageRow]) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: r.day)
    days = _days(ordered)
    spent: dict[str, int] = defaultdict(int)
    for row in ordered:
        spent[row.day] += row.credits
    data = [micro_to_credits(spent.get(d, 0)) for d in days]
    return {"labels": days, "datasets": [{"label": "credits spent", "data": data}]}


def by_tool(rows: Iterable[UsageRow]) -> list[dict[str, Any]]:
    """A table of the same numbers: one line per tool (calls, failures, credits)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        line = totals[row.tool or "(none)"]
        line[0] += row.calls
        line[1] += row.failures
        line[2] += row.credits
    return [
        {"tool": t, "calls": c, "failures": f, "credits": micro_to_credits(m)}
        for t, (c, f, m) in sorted(totals.items())
    ]


def latency_over_time(series: LatencySeries) -> dict[str, Any]:
    """`Admin.upstream_latency()` into a line chart: labels are the buckets' start times (UTC,
    `HH:MM`, or the date for day buckets), two lines per upstream (`NAME p50`, `NAME p95`, ms;
    None where a bucket had no call, drawn as a gap)."""
    fmt = "%Y-%m-%d" if series.bucket_s >= 86_400 else "%H:%M"
    datasets = [
        {"label": f"{name} {p}", "data": values[f"{p}_ms"], "kind": p}
        for name, values in series.upstreams.items()
        for p in ("p50", "p95")
    ]
    return {"labels": [b.strftime(fmt) for b in series.buckets], "datasets": datasets}


def latency_rows(series: LatencySeries) -> list[dict[str, Any]]:
    """The same numbers as `latency_over_time`, as table rows for the buckets with calls:
    `{"bucket", "upstream", "calls", "p50_ms", "p95_ms"}`, oldest first."""
    fmt = "%Y-%m-%d" if series.bucket_s >= 86_400 else "%Y-%m-%d %H:%M"
    return [
        {
            "bucket": start.strftime(fmt),
            "upstream": name,
            "calls": values["calls"][i],
            "p50_ms": values["p50_ms"][i],
            "p95_ms": values["p95_ms"][i],
        }
        for i, start in enumerate(series.buckets)
        for name, values in series.upstreams.items()
        if values["calls"][i]
    ]


def p50_by_upstream(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """`Admin.upstreams()` rows into one bar per upstream with a measured p50 latency (ms)."""
    measured = [r for r in rows if r.get("p50_ms") is not None]
    return {
        "labels": [r["name"] for r in measured],
        "datasets": [{"label": "p50 latency (ms)", "data": [r["p50_ms"] for r in measured]}],
    }
