"""Prometheus metrics of one gateway process, fed by the call path's audit events.

What it is: `Metrics`, one per app (two apps in one process share nothing), with the series
below; `Metrics.audit(sink)` wraps the gateway's `AuditSink` so every call's one audit event
also counts (no second hook on the call path); `Metrics.ledger(ledger)` wraps the `Ledger` port
to count reservations in flight; `scrape()` is the text exposition format served at `/metrics`
(protected: `toolwire.inbound.metrics`).

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

Counting costs the call path no lock and no prometheus_client object: a call adds to plain dicts
(`toolwire.metrics.counts.Counts`, about 1 µs, on the event loop's thread), turned into the
families at scrape time (docs/design/metrics-hot-path.md). Several processes
(`toolwire serve --workers N`): each worker pushes its counts into prometheus_client's
multiprocess files about once a second, at each scrape it answers and at shutdown, and a scrape of
any worker, or of the supervisor's separate metrics port, waits for that push, then reads every
process's files (`toolwire.metrics.multiproc`), so `/metrics` reports the whole host. Counters and
histograms are summed over every worker that ever ran (a replaced worker's counts stay);
`toolwire_reservations_in_flight` is `livesum` (the sum over live workers: the supervisor calls
`mark_process_dead` when one exits). The upstream gauges are the answering worker's own view (each
worker checks health itself); the supervisor's port has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_wsgi_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from toolwire.core.model import AuditEvent, Principal, Reservation
from toolwire.core.ports import AuditSink, Ledger
from toolwire.metrics.counts import (
    LATENCY_BUCKETS,
    REACHED_UPSTREAM,
    UNKNOWN_TOOL,
    Counts,
    CountsCollector,
)
from toolwire.metrics.multiproc import (
    FLUSH_S,
    MULTIPROC_ENV,
    SETTLE_S,
    SUPERVISOR_PORT_ENV,
    Flusher,
    host_registry,
    multiprocess_dir,
    port_served_here,
    process_exited,
    serve_host,
)

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS",
    "MULTIPROC_ENV",
    "REACHED_UPSTREAM",
    "SUPERVISOR_PORT_ENV",
    "UNKNOWN_TOOL",
    "CountedLedger",
    "Metrics",
    "ObservedAudit",
    "UpstreamHealth",
    "UpstreamState",
    "multiprocess_dir",
    "port_served_here",
    "process_exited",
    "serve_host",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BreakerState = Literal["closed", "open", "half_open"]
BREAKER_STATES: tuple[BreakerState, ...] = ("closed", "open", "half_open")


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
    """The gateway's metrics (see the module docstring). Count from the event loop's thread."""

    def __init__(self) -> None:
        self.counts = Counts()
        self._health = _HealthCollector()
        host = host_registry()
        self._flusher = None if host is None else Flusher(self.counts)
        if host is None:
            self.exposition = CollectorRegistry(auto_describe=True)
            self.exposition.register(CountsCollector(self.counts))
        else:
            self.exposition = host
        """What a scrape reads: this process's counts, or every process's files in
        multiprocess mode."""
        self.exposition.register(self._health)

    def observe(self, event: AuditEvent) -> None:
        """Count one call from its audit event (`Counts.count`)."""
        self.counts.count(event)

    def rate_limit_refused(self, limit: str) -> None:
        """For the rate limiter: one call refused by a limit of kind `limit` (e.g. ``key``,
        ``key_tool``, ``plan``, ``upstream``). The call itself is counted by its audit event
        (`toolwire_calls_total{outcome="RATE_LIMITED"}`)."""
        self.counts.refused(limit)

    def watch_health(self, source: UpstreamHealth) -> None:
        """Export `source`'s upstream states at every scrape (one source; the last one wins)."""
        self._health.source = source

    def audit(self, sink: AuditSink) -> ObservedAudit:
        """`sink`, counting every event it is handed."""
        return ObservedAudit(sink, self.counts)

    def ledger(self, ledger: Ledger) -> CountedLedger:
        """`ledger`, counting the reservations held through it."""
        return CountedLedger(ledger, self.counts)

    def flush(self) -> None:
        """In multiprocess mode, push what this process counted into its files (a no-op
        otherwise). On the event loop's thread; the app calls it last at shutdown."""
        if self._flusher is not None:
            self._flusher.flush()

    async def run(self) -> None:
        """In multiprocess mode, `flush` every `FLUSH_S` until cancelled, and once more then;
        returns at once otherwise. The app runs it as a background task."""
        if self._flusher is None:
            return
        try:
            while True:
                await asyncio.sleep(FLUSH_S)
                self.flush()
        finally:
            self.flush()

    def render(self) -> bytes:
        """What a scrape reads now, in the Prometheus text exposition format (`CONTENT_TYPE`)."""
        self.flush()
        return generate_latest(self.exposition)

    async def scrape(self) -> bytes:
        """`render()`, for `/metrics`; in multiprocess mode after `SETTLE_S`, so that every
        worker has flushed the calls it answered before the scrape arrived."""
        if self._flusher is not None:
            self.flush()
            await asyncio.sleep(SETTLE_S)
        return self.render()

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve `/metrics` on its own listener (a daemon thread, no authentication: bind it
        where only the scraper reaches). `shutdown()` the returned server to stop it."""
        registry = self.exposition
        settled = host_registry(SETTLE_S)  # the thread may wait; the event loop never does
        if settled is not None:
            settled.register(self._health)
            registry = settled
        server, _ = start_wsgi_server(port, addr=host, registry=registry)
        return server


class ObservedAudit:
    """An `AuditSink` that counts each event into `Counts`, then hands it on."""

    def __init__(self, sink: AuditSink, counts: Counts) -> None:
        self.sink = sink
        self._count = counts.count

    def record(self, event: AuditEvent) -> None:
        try:
            self._count(event)
        finally:
            self.sink.record(event)

    def recorded(self, event: AuditEvent) -> None:
        try:
            self._count(event)
        finally:
            self.sink.recorded(event)


class CountedLedger:
    """A `Ledger` that keeps `toolwire_reservations_in_flight` up to date (`Counts.in_flight`);
    `balance` is the inner ledger's own method, no wrapper on a free call's path."""

    def __init__(self, ledger: Ledger, counts: Counts) -> None:
        self.inner = ledger
        self._counts = counts
        self.balance = ledger.balance

    async def resolution(self, reservation: Reservation) -> int | None:
        return await self.inner.resolution(reservation)

    async def reserve(
        self, principal: Principal, amount: int, *, request_id: str, tool: str, operation: str
    ) -> Reservation:
        reservation = await self.inner.reserve(
            principal, amount, request_id=request_id, tool=tool, operation=operation
        )
        self._counts.in_flight += 1
        return reservation

    async def settle(
        self, reservation: Reservation, charge: int, audit: AuditEvent | None = None
    ) -> int:
        try:
            return await self.inner.settle(reservation, charge, audit)
        finally:
            self._counts.in_flight -= 1

    async def release(self, reservation: Reservation, audit: AuditEvent | None = None) -> int:
        try:
            return await self.inner.release(reservation, audit)
        finally:
            self._counts.in_flight -= 1


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
