"""Several worker processes on one host (`toolwire serve --workers N`): prometheus_client's
multiprocess mode, fed from each worker's `Counts` about once a second.

What it is: the supervisor's side (`multiprocess_dir`, `serve_host`, `process_exited`, the
`SUPERVISOR_PORT_ENV` flag) and the worker's side: `Flusher` pushes what the worker counted since
its last flush into prometheus_client's values for this process (its memory-mapped files in
`PROMETHEUS_MULTIPROC_DIR`), every `FLUSH_S`, at each scrape it answers and at shutdown; a call
never touches the files. `host_registry` reads every process's files (`MultiProcessCollector`).

Freshness: another worker's latest calls reach the files within `FLUSH_S`, so a scrape waits
`SETTLE_S` before it reads them, and then counts every call answered before it arrived (on any
worker whose event loop is not stalled for longer than the margin). A worker killed with
`kill -9` loses what it counted since its last flush (at most `FLUSH_S` of calls); a graceful stop
loses nothing.

What it is not: the counting itself (`toolwire.metrics.counts`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_wsgi_server,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from toolwire.core.model import MICRO
from toolwire.metrics.counts import (
    BOUNDS,
    CALLS,
    CREDITS,
    IN_FLIGHT,
    LATENCY,
    LATENCY_BUCKETS,
    REFUSALS,
    UPSTREAM_LATENCY,
    Buckets,
    Counts,
    Labels,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's switch to multiprocess mode, read when it is first imported: set it
before a worker starts (`multiprocess_dir`), never in a running process."""
SUPERVISOR_PORT_ENV = "TOOLWIRE_METRICS_PORT_BY_SUPERVISOR"
"""Set (to "1") for workers whose supervisor serves the separate metrics port itself: the workers
then do not bind it (`port_served_here`)."""
FLUSH_S = 1.0
"""A worker pushes its counts into its files at least this often (and at each scrape it answers)."""
SETTLE_S = FLUSH_S + 0.25
"""How long a scrape waits before it reads the files: every live worker has flushed since."""


def multiprocess_mode() -> bool:
    """Whether this process counts for a host of several (`MULTIPROC_ENV` set)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def host_registry(settle_s: float = 0.0) -> CollectorRegistry | None:
    """In multiprocess mode, a registry reading what every process of the host has flushed,
    after waiting `settle_s` at each scrape (blocking: only for a scrape on its own thread);
    else None."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return None
    registry = CollectorRegistry()
    registry.register(_HostCollector(path, settle_s))
    return registry


class _HostCollector(Collector):
    def __init__(self, path: str, settle_s: float) -> None:
        self.files = multiprocess.MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]
        self.settle_s = settle_s

    def collect(self) -> Iterator[Metric]:
        if self.settle_s > 0:
            time.sleep(self.settle_s)
        families: Iterator[Metric] = self.files.collect()  # type: ignore[no-untyped-call]
        return families


class Flusher:
    """Pushes what `counts` gained since the last `flush` into this process's multiprocess values:
    counters and histogram buckets by the difference (a worker that reuses a dead one's pid
    adds to what that one left), the in-flight gauge (`livesum`) by its value. Call it from the
    thread that writes `counts` (the event loop's)."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.calls = _Counted(Counter(CALLS.name, CALLS.help, CALLS.labels, registry=None))
        self.credits = _Counted(
            Counter(CREDITS.name, CREDITS.help, CREDITS.labels, registry=None), per=MICRO
        )
        self.refusals = _Counted(
            Counter(REFUSALS.name, REFUSALS.help, REFUSALS.labels, registry=None)
        )
        self.latency = _Observed(
            Histogram(
                LATENCY.name, LATENCY.help, LATENCY.labels, buckets=LATENCY_BUCKETS, registry=None
            )
        )
        self.upstream = _Observed(
            Histogram(
                UPSTREAM_LATENCY.name, UPSTREAM_LATENCY.help, UPSTREAM_LATENCY.labels,
                buckets=LATENCY_BUCKETS, registry=None,
            )
        )  # fmt: skip
        self.in_flight = Gauge(
            IN_FLIGHT.name, IN_FLIGHT.help, registry=None, multiprocess_mode="livesum"
        )
        self.in_flight_sent = 0

    def flush(self) -> None:
        c = self.counts
        self.calls.push(c.calls)
        self.latency.push(c.latency)
        self.upstream.push(c.upstream)
        self.credits.push(c.credits)
        self.refusals.push(c.refusals)
        if c.in_flight != self.in_flight_sent:
            self.in_flight_sent = c.in_flight
            self.in_flight.set(c.in_flight)


def _labels(key: Labels | str) -> Labels:
    return key if isinstance(key, tuple) else (key,)


class _Counted:
    """A counter and what of each series was pushed into it (in the table's unit; `per` of
    them make one of the counter's)."""

    def __init__(self, metric: Counter, per: int = 1) -> None:
        self.metric = metric
        self.per = per
        self.sent: dict[Any, int] = {}
        self.children: dict[Any, Any] = {}

    def push(self, table: dict[Any, int]) -> None:
        for key, total in table.copy().items():
            delta = total - self.sent.get(key, 0)
            if not delta:
                continue
            child = self.children.get(key)
            if child is None:
                child = self.children[key] = self.metric.labels(*_labels(key))
            child.inc(delta / self.per if self.per != 1 else delta)
            self.sent[key] = total


class _Observed:
    """A histogram and what of each series was pushed into it: bucket counts and the sum are
    added to prometheus_client's own values of the child (its `_buckets` and `_sum`: `observe`
    takes one value at a time)."""

    def __init__(self, metric: Histogram) -> None:
        self.metric = metric
        self.sent: dict[str, Buckets] = {}
        self.values: dict[str, tuple[list[Any], Any]] = {}

    def push(self, table: dict[str, Buckets]) -> None:
        for key, series in table.copy().items():
            sent = self.sent.get(key)
            if sent is None:
                sent = self.sent[key] = [0.0] * (len(BOUNDS) + 1)
                child: Any = self.metric.labels(key)
                self.values[key] = (child._buckets, child._sum)
            elif sent == series:
                continue
            buckets, total = self.values[key]
            now = series.copy()
            for i in range(len(BOUNDS)):
                if now[i] != sent[i]:
                    buckets[i].inc(now[i] - sent[i])
            if now[-1] != sent[-1]:
                total.inc(now[-1] - sent[-1])
            sent[:] = now


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


def port_served_here() -> bool:
    """Whether this process serves `metrics_port` itself (False in a supervised worker)."""
    return os.environ.get(SUPERVISOR_PORT_ENV) != "1"


def serve_host(host: str, port: int) -> WSGIServer:
    """For a supervisor: serve every worker's metrics on `port`, no authentication, as
    `Metrics.serve` (each scrape waits `SETTLE_S`, its own thread). Call inside
    `multiprocess_dir`."""
    registry = host_registry(SETTLE_S)
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
