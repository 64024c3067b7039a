"""One process counting calls in prometheus_client's multiprocess mode, for
tests/metrics/test_metrics_multiproc.py (the mode is chosen when prometheus_client is imported,
so it needs a process of its own).

    python -m tests.support.metrics_process toolwire START STOP   # `Metrics`, flushed
    python -m tests.support.metrics_process reference START STOP  # prometheus_client's own

`toolwire`: counts events START..STOP through `Metrics`, with its flusher task running, one
explicit `flush()` half way, two reservations of which one is settled (one stays in flight),
then stops the flusher as the app's shutdown does. `reference`: the same calls (one refusal, one
reservation in flight) counted straight into prometheus_client `Counter`/`Histogram`/`Gauge`
objects, as toolwire did before issue 14.
"""

from __future__ import annotations

import asyncio
import sys
import time

from toolwire.core.model import MICRO, AuditEvent, Principal, Reservation
from toolwire.core.scopes import ScopeSet

SCOPES = ScopeSet(["*"])

TOOLS = ("echo", "calc", None)
OUTCOMES = ("OK", "UPSTREAM_ERROR", "REPLAYED", "TOOL_NOT_FOUND", "RATE_LIMITED")
LATENCIES_MS = (0.5, 1.0, 1.5, 2.5, 125.0, 1000.0, 30_000.0, 45_000.0)
"""Bounds themselves (1 ms, 2.5 ms, 1 s, 30 s: `le` is inclusive), values between and beyond."""


def event(i: int) -> AuditEvent:
    """The i-th call of a fixed mix of doors, tools, outcomes, latencies, charges and upstreams."""
    return AuditEvent(
        request_id=f"req-{i}",
        at=time.time(),
        account_id="acc",
        key_id="key",
        tool=TOOLS[i % 3],
        operation="run",
        door=("rest", "mcp")[i % 2],
        outcome=OUTCOMES[i % 5],
        credits_charged=250_000 * (i % 4),
        latency_ms=LATENCIES_MS[i % 8],
        upstream=None if i % 4 else "shop",
    )


class _Sink:
    def record(self, event: AuditEvent) -> None:
        pass

    def recorded(self, event: AuditEvent) -> None:
        pass


class _Ledger:
    async def reserve(
        self, principal: Principal, amount: int, *, request_id: str, tool: str, operation: str
    ) -> Reservation:
        return Reservation(request_id, principal.account_id, principal.key_id, amount, 0)

    async def settle(
        self, reservation: Reservation, charge: int, audit: AuditEvent | None = None
    ) -> int:
        return 0

    async def release(self, reservation: Reservation, audit: AuditEvent | None = None) -> int:
        return 0

    async def balance(self, account_id: str) -> int:
        return 0


async def counted_by_toolwire(start: int, stop: int) -> None:
    from toolwire.metrics import Metrics

    metrics = Metrics()
    flusher = asyncio.create_task(metrics.run())
    await asyncio.sleep(0)  # started, as the app's is long before its first call
    audit, ledger = metrics.audit(_Sink()), metrics.ledger(_Ledger())
    half = (start + stop) // 2
    for i in range(start, half):
        audit.record(event(i))
    metrics.flush()
    for i in range(half, stop):
        audit.recorded(event(i))
    metrics.rate_limit_refused("key")
    principal = Principal(key_id="key", account_id="acc", scopes=SCOPES)
    held = await ledger.reserve(principal, 1, request_id="a", tool="t", operation="o")
    await ledger.reserve(principal, 1, request_id="b", tool="t", operation="o")
    await ledger.settle(held, 1)
    flusher.cancel()  # a graceful stop: the flusher's last flush
    await asyncio.gather(flusher, return_exceptions=True)


def counted_by_prometheus_client(start: int, stop: int) -> None:
    from prometheus_client import Counter, Gauge, Histogram

    from toolwire.metrics.counts import (
        CALLS,
        CREDITS,
        IN_FLIGHT,
        LATENCY,
        LATENCY_BUCKETS,
        REACHED_UPSTREAM,
        REFUSALS,
        UNKNOWN_TOOL,
        UPSTREAM_LATENCY,
    )

    calls = Counter(CALLS.name, CALLS.help, CALLS.labels, registry=None)
    latency = Histogram(
        LATENCY.name, LATENCY.help, LATENCY.labels, buckets=LATENCY_BUCKETS, registry=None
    )
    upstream = Histogram(
        UPSTREAM_LATENCY.name, UPSTREAM_LATENCY.help, UPSTREAM_LATENCY.labels,
        buckets=LATENCY_BUCKETS, registry=None,
    )  # fmt: skip
    credits = Counter(CREDITS.name, CREDITS.help, CREDITS.labels, registry=None)
    refusals = Counter(REFUSALS.name, REFUSALS.help, REFUSALS.labels, registry=None)
    in_flight = Gauge(IN_FLIGHT.name, IN_FLIGHT.help, registry=None, multiprocess_mode="livesum")
    for i in range(start, stop):
        e = event(i)
        tool = UNKNOWN_TOOL if e.outcome == "TOOL_NOT_FOUND" else (e.tool or UNKNOWN_TOOL)
        calls.labels(e.door, tool, e.outcome).inc()
        if e.outcome == "REPLAYED":
            continue
        latency.labels(tool).observe(e.latency_ms / 1000.0)
        if e.outcome in REACHED_UPSTREAM:
            upstream.labels(e.upstream or "builtin").observe(e.latency_ms / 1000.0)
        if e.credits_charged:
            credits.labels(tool).inc(e.credits_charged / MICRO)
    refusals.labels("key").inc()
    in_flight.inc()


if __name__ == "__main__":
    mode, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "toolwire":
        asyncio.run(counted_by_toolwire(first, last))
    else:
        counted_by_prometheus_client(first, last)
