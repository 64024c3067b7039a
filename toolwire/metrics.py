"""Prometheus metrics of one gateway process, fed by the call path's audit events.

What it is: `Metrics`, one `prometheus_client` registry per app (two apps in one process share
nothing), with the series below; `Metrics.audit(sink)` wraps the gateway's `AuditSink` so every
call's one audit event also counts (no second hook on the call path); `Metrics.ledger(ledger)`
wraps the `Ledger` port to count reservations in flight; `render()` is the text exposition
format served at `/metrics` (protected: `toolwire.inbound.metrics`).

    toolwire_calls_total{door,tool,outcome}             counter, one per call (outcome: OK or
                                                         the error code, REPLAYED, CANCELLED)
    toolwire_call_latency_seconds{tool}                  histogram, whole call, seconds
    toolwire_upstream_latency_seconds{upstream}          histogram, calls that reached an upstream
                                                         (`builtin` for built-in tools)
    toolwire_credits_charged_total{tool}                 counter, credits (decimal)
    toolwire_rate_limit_refusals_total{limit}            counter, `rate_limit_refused(limit)`
    toolwire_reservations_in_flight                      gauge, credits held, not yet settled
    toolwire_upstream_up{upstream}                       gauge 1/0     } read at scrape time from
    toolwire_upstream_breaker_state{upstream,state}      gauge 1 for   } an `UpstreamHealth`
                                                         the current state (closed/open/half_open)

Label values are bounded: a tool that was not found counts as `(unknown)` (a client cannot grow
the series by inventing names); doors, outcomes and upstreams come from code and config.

Several processes (`toolwire serve --workers N`): prometheus_client's multiprocess mode. The
supervisor gives every worker one directory in `PROMETHEUS_MULTIPROC_DIR` (`multiprocess_dir`),
where each process's values live in memory-mapped files; a scrape of any worker, or of the
supervisor's separate metrics port, reads them all through a `MultiProcessCollector`, so
`/metrics` reports the whole host. Counters and histograms are summed over every worker that ever
ran (a replaced worker's counts stay); `toolwire_reservations_in_flight` is `livesum` (the sum over
live workers: the supervisor calls `mark_process_dead` when one exits). The upstream gauges are
the answering worker's own view (each worker checks health itself); the supervisor's port has
none.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_wsgi_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from toolwire.core.model import MICRO, AuditEvent, Principal, Reservation
from toolwire.core.ports import AuditSink, Ledger

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
UNKNOWN_TOOL = "(unknown)"
REACHED_UPSTREAM = frozenset({"OK", "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT"})
BreakerState = Literal["closed", "open", "half_open"]
BREAKER_STATES: tuple[BreakerState, ...] = ("closed", "open", "half_open")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's switch to multiprocess mode, read when it is first imported: set it
before a worker starts (`multiprocess_dir`), never in a running process."""


@dataclass(frozen=True, slots=True)
class UpstreamState:
    """One upstream's health as the health checker sees it (`toolwire.upstream.health`)."""

    upstream: str
    healthy: bool
    breaker: BreakerState = "closed"


class UpstreamHealth(Protocol):
    """The seam to the upstream health checker and circuit breaker: read at every scrape."""

    def states(self) -> Iterable[UpstreamState]: ...


class Metrics:
    """The gateway's metrics (see the module docstring). Cheap to call on every request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter(
            "toolwire_calls", "Tool calls by door, tool and outcome.", ["door", "tool", "outcome"],
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "toolwire_call_latency_seconds", "Whole-call latency per tool, seconds.", ["tool"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream_latency = Histogram(
            "toolwire_upstream_latency_seconds",
            "Latency of calls that reached an upstream, per upstream, seconds.", ["upstream"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.credits = Counter(
            "toolwire_credits_charged", "Credits charged, per tool.", ["tool"], registry=r
        )
        self.refusals = Counter(
            "toolwire_rate_limit_refusals", "Calls refused by a rate limit, per limit kind.",
            ["limit"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "toolwire_reservations_in_flight",
            "Credit reservations held by calls of the live processes, not yet settled or released.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._health = _HealthCollector()
        self.exposition: CollectorRegistry = exposition_registry() or r
        """What a scrape reads: this registry, or every process's files in multiprocess mode."""
        self.exposition.register(self._health)

    def observe(self, event: AuditEvent) -> None:
        """Count one call from its audit event (a few microseconds: bench/observability.py)."""
        outcome = event.outcome
        tool = UNKNOWN_TOOL if outcome == "TOOL_NOT_FOUND" else (event.tool or UNKNOWN_TOOL)
        self._child(self.calls, (event.door, tool, outcome)).inc()
        if outcome == "REPLAYED":
            return
        seconds = event.latency_ms / 1000.0
        self._child(self.latency, (tool,)).observe(seconds)
        if outcome in REACHED_UPSTREAM:
            self._child(self.upstream_latency, (event.upstream or "builtin",)).observe(seconds)
        if event.credits_charged:
            self._child(self.credits, (tool,)).inc(event.credits_charged / MICRO)

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        """`metric.labels(*labels)`, cached: `labels()` validates and locks on every call."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def rate_limit_refused(self, limit: str) -> None:
        """For the rate limiter: one call refused by a limit of kind `limit` (e.g. ``key``,
        ``key_tool``, ``plan``, ``upstream``). The call itself is counted by its audit event
        (`toolwire_calls_total{outcome="RATE_LIMITED"}`)."""
        self.refusals.labels(limit).inc()

    def watch_health(self, source: UpstreamHealth) -> None:
        """Export `source`'s upstream states at every scrape (one source; the last one wins)."""
        self._health.source = source

    def audit(self, sink: AuditSink) -> ObservedAudit:
        """`sink`, counting every event it is handed."""
        return ObservedAudit(sink, self)

    def ledger(self, ledger: Ledger) -> CountedLedger:
        """`ledger`, counting the reservations held through it."""
        return CountedLedger(ledger, self.in_flight)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format (`CONTENT_TYPE`)."""
        return generate_latest(self.exposition)

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve `/metrics` on its own listener (a daemon thread, no authentication: bind it
        where only the scraper reaches). `shutdown()` the returned server to stop it."""
        server, _ = start_wsgi_server(port, addr=host, registry=self.exposition)
        return server


def exposition_registry() -> CollectorRegistry | None:
    """In multiprocess mode (`MULTIPROC_ENV` set), a registry holding only a
    `MultiProcessCollector` over that directory (what every process has recorded); else None."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[Path]:
    """For a supervisor, before it starts workers: the directory every worker's metrics go to,
    set in `MULTIPROC_ENV` (children inherit it). An operator's own `PROMETHEUS_MULTIPROC_DIR`
    is used and emptied of earlier runs' files (prometheus_client asks for a clean directory per
    run); otherwise a private temporary directory (mode 0700) is made and removed on exit."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        yield path
        return
    made = Path(tempfile.mkdtemp(prefix="toolwire-metrics-"))
    os.environ[MULTIPROC_ENV] = str(made)
    try:
        yield made
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(made, ignore_errors=True)


SUPERVISOR_PORT_ENV = "TOOLWIRE_METRICS_PORT_BY_SUPERVISOR"
"""Set (to "1") for workers whose supervisor serves the separate metrics port itself: the workers
then do not bind it (`port_served_here`)."""


def port_served_here() -> bool:
    """Whether this process serves `metrics_port` itself (False in a supervised worker)."""
    return os.environ.get(SUPERVISOR_PORT_ENV) != "1"


def serve_host(host: str, port: int) -> WSGIServer:
    """For a supervisor: serve every worker's metrics (`MultiProcessCollector`) on `port`, no
    authentication, as `Metrics.serve`. Call inside `multiprocess_dir`."""
    registry = exposition_registry()
    if registry is None:
        raise RuntimeError(f"{MULTIPROC_ENV} is not set")
    server, _ = start_wsgi_server(port, addr=host, registry=registry)
    return server


def process_exited(pid: int) -> None:
    """For a supervisor, when a worker has exited: drop its live gauges (`livesum`) so they no
    longer count; its counters and histograms stay in the host's totals."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


class ObservedAudit:
    """An `AuditSink` that counts each event into `Metrics`, then hands it on."""

    def __init__(self, sink: AuditSink, metrics: Metrics) -> None:
        self.sink = sink
        self._metrics = metrics

    def record(self, event: AuditEvent) -> None:
        try:
            self._metrics.observe(event)
        finally:
            self.sink.record(event)

    def recorded(self, event: AuditEvent) -> None:
        try:
            self._metrics.observe(event)
        finally:
            self.sink.recorded(event)


class CountedLedger:
    """A `Ledger` that keeps `toolwire_reservations_in_flight` up to date."""

    def __init__(self, ledger: Ledger, gauge: Gauge) -> None:
        self.inner = ledger
        self._gauge = gauge

    async def reserve(
        self, principal: Principal, amount: int, *, request_id: str, tool: str, operation: str
    ) -> Reservation:
        reservation = await self.inner.reserve(
            principal, amount, request_id=request_id, tool=tool, operation=operation
        )
        self._gauge.inc()
        return reservation

    async def settle(
        self, reservation: Reservation, charge: int, audit: AuditEvent | None = None
    ) -> int:
        try:
            return await self.inner.settle(reservation, charge, audit)
        finally:
            self._gauge.dec()

    async def release(self, reservation: Reservation, audit: AuditEvent | None = None) -> int:
        try:
            return await self.inner.release(reservation, audit)
        finally:
            self._gauge.dec()

    async def balance(self, account_id: str) -> int:
        return await self.inner.balance(account_id)


class _HealthCollector(Collector):
    source: UpstreamHealth | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "toolwire_upstream_up", "1 when the upstream is healthy, else 0.", labels=["upstream"]
        )
        breaker = GaugeMetricFamily(
            "toolwire_upstream_breaker_state",
            "1 for the circuit breaker's current state of each upstream.",
            labels=["upstream", "state"],
        )
        for state in () if self.source is None else self.source.states():
            up.add_metric([state.upstream], 1.0 if state.healthy else 0.0)
            for name in BREAKER_STATES:
                breaker.add_metric([state.upstream, name], 1.0 if state.breaker == name else 0.0)
        yield up
        yield breaker

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()
