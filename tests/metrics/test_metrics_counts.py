"""`toolwire.metrics` in one process: calls counted into plain tables give, at scrape time,
exactly the counts, buckets, sums and gauges of the calls made, in the very exposition
prometheus_client's own `Counter`/`Histogram`/`Gauge` objects would give (issue 14); a scrape
on the separate port's own thread, while the event loop's thread counts, never sees a count go
backwards."""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter as Tally

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.metrics_process import SCOPES, _Ledger, event
from toolwire.core.model import MICRO, AuditEvent, Principal
from toolwire.metrics import LATENCY_BUCKETS, REACHED_UPSTREAM, UNKNOWN_TOOL, Metrics
from toolwire.metrics.counts import CALLS, CREDITS, IN_FLIGHT, LATENCY, REFUSALS, UPSTREAM_LATENCY
from toolwire.testing import free_port

N = 400
CALLS_TOTAL = re.compile(r"^toolwire_calls_total\{[^}]*\} (\S+)$", re.MULTILINE)
PRINCIPAL = Principal(key_id="key", account_id="acc", scopes=SCOPES)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, AuditEvent]] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(("record", event))

    def recorded(self, event: AuditEvent) -> None:
        self.events.append(("recorded", event))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def tool_of(e: AuditEvent) -> str:
    return UNKNOWN_TOOL if e.outcome == "TOOL_NOT_FOUND" else (e.tool or UNKNOWN_TOOL)


def test_n_calls_give_exact_counts_buckets_sums_and_gauges() -> None:
    metrics = Metrics()
    sink = Sink()
    audit = metrics.audit(sink)
    events = [event(i) for i in range(N)]
    for i, e in enumerate(events):
        (audit.record if i % 2 else audit.recorded)(e)
    metrics.rate_limit_refused("key")
    metrics.rate_limit_refused("plan")
    metrics.rate_limit_refused("key")
    scraped = samples(metrics.render().decode())

    assert [e for _, e in sink.events] == events  # every event handed on, in order
    assert [how for how, _ in sink.events] == ["recorded", "record"] * (N // 2)
    calls = Tally((e.door, tool_of(e), e.outcome) for e in events)
    assert {
        (d["door"], d["tool"], d["outcome"]): v
        for (name, labels), v in scraped.items()
        if name == "toolwire_calls_total" and (d := dict(labels))
    } == {k: float(v) for k, v in calls.items()}
    timed = [e for e in events if e.outcome != "REPLAYED"]
    for family, label, of in (
        ("toolwire_call_latency_seconds", "tool", tool_of),
        ("toolwire_upstream_latency_seconds", "upstream", lambda e: e.upstream or "builtin"),
    ):
        chosen = timed if label == "tool" else [e for e in timed if e.outcome in REACHED_UPSTREAM]
        for value in {of(e) for e in chosen}:
            seconds = [e.latency_ms / 1000.0 for e in chosen if of(e) == value]
            for bound in (*LATENCY_BUCKETS, float("inf")):
                le = "+Inf" if bound == float("inf") else str(float(bound))
                key = (f"{family}_bucket", tuple(sorted({label: value, "le": le}.items())))
                assert scraped[key] == sum(1 for s in seconds if s <= bound), (key, seconds)
            assert scraped[(f"{family}_count", ((label, value),))] == len(seconds)
            assert scraped[(f"{family}_sum", ((label, value),))] == sum(seconds)  # same order
    credits = Tally()
    for e in timed:  # a replayed call charges nothing again
        credits[tool_of(e)] += e.credits_charged
    for tool, micro in credits.items():
        if micro:
            assert scraped[("toolwire_credits_charged_total", (("tool", tool),))] == micro / MICRO
    assert scraped[("toolwire_rate_limit_refusals_total", (("limit", "key"),))] == 2
    assert scraped[("toolwire_rate_limit_refusals_total", (("limit", "plan"),))] == 1
    assert scraped[("toolwire_reservations_in_flight", ())] == 0


async def test_reservations_in_flight_count_reserve_against_settle_and_release() -> None:
    metrics = Metrics()
    inner = _Failing()
    ledger = metrics.ledger(inner)
    held = [
        await ledger.reserve(PRINCIPAL, 1, request_id=f"r{i}", tool="t", operation="o")
        for i in range(4)
    ]
    assert samples(metrics.render().decode())[("toolwire_reservations_in_flight", ())] == 4
    await ledger.settle(held[0], 1)
    await ledger.release(held[1])
    with pytest.raises(RuntimeError):
        await ledger.settle(held[2], 1, _FAIL)  # not settled: no longer held by this process
    assert samples(metrics.render().decode())[("toolwire_reservations_in_flight", ())] == 1
    assert ledger.balance == inner.balance  # the inner ledger's own method: no wrapper
    assert await ledger.balance("acc") == 0


_FAIL = event(0)


class _Failing(_Ledger):
    async def settle(self, reservation: object, charge: int, audit: object = None) -> int:
        if audit is _FAIL:
            raise RuntimeError("the settle could not be made durable")
        return 0


def test_the_exposition_is_what_prometheus_clients_own_metrics_give() -> None:
    metrics = Metrics()
    audit = metrics.audit(Sink())
    reference = CollectorRegistry(auto_describe=True)
    counter = Counter(CALLS.name, CALLS.help, CALLS.labels, registry=reference)
    latency = Histogram(
        LATENCY.name, LATENCY.help, LATENCY.labels, buckets=LATENCY_BUCKETS, registry=reference
    )
    upstream = Histogram(
        UPSTREAM_LATENCY.name, UPSTREAM_LATENCY.help, UPSTREAM_LATENCY.labels,
        buckets=LATENCY_BUCKETS, registry=reference,
    )  # fmt: skip
    credits = Counter(CREDITS.name, CREDITS.help, CREDITS.labels, registry=reference)
    refusals = Counter(REFUSALS.name, REFUSALS.help, REFUSALS.labels, registry=reference)
    in_flight = Gauge(IN_FLIGHT.name, IN_FLIGHT.help, registry=reference)
    for i in range(N):
        e = event(i)
        audit.record(e)
        counter.labels(e.door, tool_of(e), e.outcome).inc()
        if e.outcome == "REPLAYED":
            continue
        latency.labels(tool_of(e)).observe(e.latency_ms / 1000.0)
        if e.outcome in REACHED_UPSTREAM:
            upstream.labels(e.upstream or "builtin").observe(e.latency_ms / 1000.0)
        if e.credits_charged:
            credits.labels(tool_of(e)).inc(e.credits_charged / MICRO)
    metrics.rate_limit_refused("upstream")
    refusals.labels("upstream").inc()
    metrics.counts.in_flight = 3
    in_flight.set(3)
    ours = metrics.render().decode()
    theirs = generate_latest(reference).decode()
    assert "toolwire_calls_created" in ours
    health = ours.index("# HELP toolwire_upstream_up")
    assert _timeless(ours[:health]) == _timeless(theirs)


def _timeless(text: str) -> str:
    """`text` with every `_created` value (a time) masked."""
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 <time>", text)


def test_a_scrape_on_its_own_thread_never_sees_a_count_go_backwards() -> None:
    """The separate port's WSGI thread reads while the event loop's thread counts (one writer):
    thread switches every 10 µs land inside the scrape's loops while new series are added."""
    metrics = Metrics()
    audit = metrics.audit(Sink())
    seen: list[float] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def scrape() -> None:
        try:
            while not done.is_set():
                text = generate_latest(metrics.exposition).decode()
                seen.append(sum(map(float, CALLS_TOTAL.findall(text))))
        except BaseException as exc:
            failures.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    scraper = threading.Thread(target=scrape)
    scraper.start()
    made = 0
    try:  # count until the scraper has read the tables a few times while they grew
        while (len(seen) < 5 or made < 10_000) and not failures and made < 2_000_000:
            e = event(made)
            new_tool = made % 20 == 0 and made < 10_000  # 500 new series as it reads
            audit.record(_renamed(e, f"tool-{made}") if new_tool else e)
            made += 1
    finally:
        done.set()
        scraper.join(30)
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(seen) >= 5, f"{len(seen)} scrapes answered during {made} calls"
    assert seen == sorted(seen)
    assert sum(map(float, CALLS_TOTAL.findall(metrics.render().decode()))) == made


def test_the_metrics_port_serves_the_same_exposition() -> None:
    metrics = Metrics()
    audit = metrics.audit(Sink())
    for i in range(N):
        audit.record(event(i))
    port = free_port()
    server = metrics.serve("127.0.0.1", port)
    try:
        served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    finally:
        server.shutdown()
        server.server_close()
    assert samples(served) == samples(metrics.render().decode())


def _renamed(e: AuditEvent, tool: str) -> AuditEvent:
    import dataclasses

    return dataclasses.replace(e, tool=tool, outcome="OK")


def test_created_series_follow_prometheus_clients_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "true")
    metrics = Metrics()
    metrics.audit(Sink()).record(event(0))
    text = metrics.render().decode()
    assert "_created" not in text and "toolwire_calls_total" in text
