"""What one process has counted: plain dicts the call path adds to, turned into Prometheus
families only when someone reads them.

What it is: `FAMILIES`, the series' names, help texts and labels (one list, for both ways out);
`Counts`, the process's tables (a dict per series, label tuple -> number; a histogram is a list of
per-bucket counts and the sum), with `count(event)` as the one step of a call (a few dict
updates and a bisect: no lock, no `prometheus_client` object); `CountsCollector`, a
`prometheus_client` collector that yields the tables as the same families, samples and
`_created` series `Counter`/`Histogram`/`Gauge` would, at scrape time.

What it is not: shared between processes (`toolwire.metrics.multiproc` pushes the tables into
prometheus_client's multiprocess files), nor safe for several writing threads: the only writer
is the event loop's thread (every audit event, reservation and refusal is counted there). A
scrape from another thread (the metrics port's WSGI server) reads copies, each dict and list
copied in one step under the GIL, so it sees every call counted before it, possibly one call's
histogram bucket without its sum, and never a value going backwards.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from toolwire.core.model import MICRO, AuditEvent

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Upper bounds (`le`), seconds; a last `+Inf` bucket is implied."""
BOUNDS = (*(floatToGoString(b) for b in LATENCY_BUCKETS), "+Inf")  # type: ignore[no-untyped-call]
"""The `le` label of each bucket, as prometheus_client writes it."""
UNKNOWN_TOOL = "(unknown)"
REACHED_UPSTREAM = frozenset({"OK", "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT"})

Labels = tuple[str, ...]
Buckets = list[float]
"""One histogram series: the count of each bucket (not cumulative, `len(BOUNDS)` of them), then
the sum of the observed values."""


@dataclass(frozen=True, slots=True)
class Family:
    """One series' name (without `_total`), help text and label names."""

    name: str
    help: str
    labels: Labels = ()


CALLS = Family(
    "toolwire_calls", "Tool calls by door, tool and outcome.", ("door", "tool", "outcome")
)
LATENCY = Family(
    "toolwire_call_latency_seconds", "Whole-call latency per tool, seconds.", ("tool",)
)
UPSTREAM_LATENCY = Family(
    "toolwire_upstream_latency_seconds",
    "Latency of calls that reached an upstream, per upstream, seconds.",
    ("upstream",),
)
CREDITS = Family("toolwire_credits_charged", "Credits charged, per tool.", ("tool",))
REFUSALS = Family(
    "toolwire_rate_limit_refusals", "Calls refused by a rate limit, per limit kind.", ("limit",)
)
IN_FLIGHT = Family(
    "toolwire_reservations_in_flight",
    "Credit reservations held by calls of the live processes, not yet settled or released.",
)
FAMILIES = (CALLS, LATENCY, UPSTREAM_LATENCY, CREDITS, REFUSALS, IN_FLIGHT)
"""Every series `Counts` keeps, in the order a scrape lists them."""


class Counts:
    """One process's counts since it started (see the module docstring: one writing thread)."""

    __slots__ = ("calls", "created", "credits", "in_flight", "latency", "refusals", "upstream")

    def __init__(self) -> None:
        self.calls: dict[Labels, int] = {}
        """(door, tool, outcome) -> calls."""
        self.latency: dict[str, Buckets] = {}
        """tool -> whole-call latency, seconds."""
        self.upstream: dict[str, Buckets] = {}
        """upstream (`builtin` for built-in tools) -> latency of calls that reached it, seconds."""
        self.credits: dict[str, int] = {}
        """tool -> credits charged, micro-credits (exact; credits at scrape time)."""
        self.refusals: dict[str, int] = {}
        """limit kind -> refusals."""
        self.in_flight = 0
        """Reservations held, not yet settled or released."""
        self.created: dict[tuple[str, Labels], float] = {}
        """(family name, labels) -> when the series was first counted (Unix seconds)."""

    def count(self, event: AuditEvent) -> None:
        """Count one call from its audit event (about 1 µs: bench/observability.py)."""
        outcome = event.outcome
        tool = UNKNOWN_TOOL if outcome == "TOOL_NOT_FOUND" else (event.tool or UNKNOWN_TOOL)
        key = (event.door, tool, outcome)
        try:
            self.calls[key] += 1
        except KeyError:
            self._first(CALLS, key)
            self.calls[key] = 1
        if outcome == "REPLAYED":
            return
        seconds = event.latency_ms / 1000.0
        bucket = bisect_left(LATENCY_BUCKETS, seconds)  # the first bound >= seconds (`le`)
        try:
            series = self.latency[tool]
        except KeyError:
            series = self.latency[tool] = self._histogram(LATENCY, tool)
        series[bucket] += 1
        series[-1] += seconds
        if outcome in REACHED_UPSTREAM:
            upstream = event.upstream or "builtin"
            try:
                series = self.upstream[upstream]
            except KeyError:
                series = self.upstream[upstream] = self._histogram(UPSTREAM_LATENCY, upstream)
            series[bucket] += 1
            series[-1] += seconds
        if event.credits_charged:
            try:
                self.credits[tool] += event.credits_charged
            except KeyError:
                self._first(CREDITS, (tool,))
                self.credits[tool] = event.credits_charged

    def refused(self, limit: str) -> None:
        """One call refused by a rate limit of kind `limit`."""
        try:
            self.refusals[limit] += 1
        except KeyError:
            self._first(REFUSALS, (limit,))
            self.refusals[limit] = 1

    def _histogram(self, family: Family, label: str) -> Buckets:
        self._first(family, (label,))
        return [0.0] * (len(BOUNDS) + 1)

    def _first(self, family: Family, labels: Labels) -> None:
        self.created[(family.name, labels)] = time.time()


def created_series() -> bool:
    """Whether scrapes list `_created` series: prometheus_client's own switch
    (`PROMETHEUS_DISABLE_CREATED_SERIES`), read as it reads it."""
    flag = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False")
    return flag.lower() not in ("true", "1", "t")


class CountsCollector(Collector):
    """`Counts` as Prometheus families, read at each scrape (one process: no multiprocess mode)."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.with_created = created_series()

    def collect(self) -> Iterator[Metric]:
        c = self.counts
        created = c.created.copy() if self.with_created else {}
        calls = CounterMetricFamily(CALLS.name, CALLS.help, labels=CALLS.labels)
        for labels, n in c.calls.copy().items():
            calls.add_metric(labels, float(n), created.get((CALLS.name, labels)))
        yield calls
        yield self._histograms(LATENCY, c.latency.copy(), created)
        yield self._histograms(UPSTREAM_LATENCY, c.upstream.copy(), created)
        credits = CounterMetricFamily(CREDITS.name, CREDITS.help, labels=CREDITS.labels)
        for tool, micro in c.credits.copy().items():
            credits.add_metric((tool,), micro / MICRO, created.get((CREDITS.name, (tool,))))
        yield credits
        refusals = CounterMetricFamily(REFUSALS.name, REFUSALS.help, labels=REFUSALS.labels)
        for limit, n in c.refusals.copy().items():
            refusals.add_metric((limit,), float(n), created.get((REFUSALS.name, (limit,))))
        yield refusals
        yield GaugeMetricFamily(IN_FLIGHT.name, IN_FLIGHT.help, value=float(c.in_flight))

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(CALLS.name, CALLS.help, labels=CALLS.labels)
        yield HistogramMetricFamily(LATENCY.name, LATENCY.help, labels=LATENCY.labels)
        yield HistogramMetricFamily(
            UPSTREAM_LATENCY.name, UPSTREAM_LATENCY.help, labels=UPSTREAM_LATENCY.labels
        )
        yield CounterMetricFamily(CREDITS.name, CREDITS.help, labels=CREDITS.labels)
        yield CounterMetricFamily(REFUSALS.name, REFUSALS.help, labels=REFUSALS.labels)
        yield GaugeMetricFamily(IN_FLIGHT.name, IN_FLIGHT.help, labels=())

    @staticmethod
    def _histograms(
        family: Family, series: dict[str, Buckets], created: dict[tuple[str, Labels], float]
    ) -> HistogramMetricFamily:
        metric = HistogramMetricFamily(family.name, family.help, labels=family.labels)
        for label, counts in series.items():
            counts = counts.copy()
            cumulative, buckets = 0.0, []
            for bound, n in zip(BOUNDS, counts, strict=False):  # the sum is left out
                cumulative += n
                buckets.append((bound, cumulative))
            metric.add_metric((label,), buckets, counts[-1])
            at = created.get((family.name, (label,)))
            if at is not None:  # as prometheus_client's Histogram: after _count and _sum
                labels = dict(zip(family.labels, (label,), strict=True))
                metric.samples.append(Sample(f"{family.name}_created", labels, at))
        return metric
