"""Latency per upstream over time, from the audit records: p50 and p95 per upstream per bucket.

    window   span        bucket
    1h       1 hour      5 minutes
    24h      24 hours    1 hour     (the default)
    7d       7 days      1 day

`latency_series(samples, end, window)` -> `LatencySeries`: `buckets` are the buckets' start times
(UTC, aligned to the bucket length), oldest first; for each upstream, `p50_ms`, `p95_ms` (None
for a bucket without a call) and `calls`, one entry per bucket. Percentiles are nearest-rank
(the smallest latency at or above p% of the bucket's calls), in milliseconds of whole-call
latency (`AuditRecord.latency_ms`) of the calls that reached an upstream (outcome OK,
UPSTREAM_ERROR or UPSTREAM_TIMEOUT: the calls `toolwire_upstream_latency_seconds` counts).

What it is not: exact for a busy gateway. The samples are the newest `MAX_SAMPLES` such records
of the window (`AuditBook.latency_samples`), so a window with more calls is computed from its
most recent part (`LatencySeries.truncated` says so).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from toolwire.core.errors import InvalidRequest

WINDOWS: dict[str, tuple[int, int]] = {
    "1h": (3600, 300),
    "24h": (86_400, 3600),
    "7d": (604_800, 86_400),
}
"""Window name -> (span, bucket), seconds."""
DEFAULT_WINDOW = "24h"
MAX_SAMPLES = 50_000
"""Audit records read for one chart, at most (newest first)."""
REACHED_UPSTREAM = ("OK", "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT")


@dataclass(frozen=True, slots=True)
class LatencySample:
    upstream: str
    at: datetime
    latency_ms: float


@dataclass(frozen=True, slots=True)
class LatencySeries:
    window: str
    bucket_s: int
    buckets: list[datetime]
    upstreams: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    """upstream -> {"p50_ms": [...], "p95_ms": [...], "calls": [...]}, one entry per bucket."""
    truncated: bool = False


def window_of(name: str | None) -> tuple[str, int, int]:
    """(name, span_s, bucket_s) of a window name (None: the default); `InvalidRequest` names
    the windows there are."""
    name = name or DEFAULT_WINDOW
    if name not in WINDOWS:
        raise InvalidRequest(
            f"'window' must be one of {', '.join(WINDOWS)}", details={"windows": list(WINDOWS)}
        )
    span, bucket = WINDOWS[name]
    return name, span, bucket


def first_bucket(end: datetime, window: str) -> datetime:
    """The start of the window's oldest bucket when the window ends at `end`."""
    _, span, bucket = window_of(window)
    return _floor(end, bucket) - timedelta(seconds=span - bucket)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile `p` (0 < p <= 100) of a sorted, non-empty list."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_series(
    samples: Iterable[LatencySample], end: datetime, window: str, *, truncated: bool = False
) -> LatencySeries:
    """Bucket `samples` into the window ending at `end` (see the module docstring); samples
    outside the window are ignored."""
    name, span, bucket = window_of(window)
    start = first_bucket(end, name)
    count = span // bucket
    buckets = [start + timedelta(seconds=bucket * i) for i in range(count)]
    per: dict[str, list[list[float]]] = defaultdict(lambda: [[] for _ in range(count)])
    for sample in samples:
        index = int((sample.at.astimezone(UTC) - start).total_seconds() // bucket)
        if 0 <= index < count:
            per[sample.upstream][index].append(sample.latency_ms)
    upstreams: dict[str, dict[str, list[Any]]] = {}
    for upstream, values in sorted(per.items()):
        ordered = [sorted(v) for v in values]
        upstreams[upstream] = {
            "p50_ms": [round(percentile(v, 50), 3) if v else None for v in ordered],
            "p95_ms": [round(percentile(v, 95), 3) if v else None for v in ordered],
            "calls": [len(v) for v in ordered],
        }
    return LatencySeries(name, bucket, buckets, upstreams, truncated)


def _floor(moment: datetime, bucket_s: int) -> datetime:
    seconds = moment.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(seconds - seconds % bucket_s, UTC)
