"""Latency per upstream over time (toolwire/core/latency.py): buckets aligned to their length,
nearest-rank p50/p95 per upstream per bucket, gaps as None, samples outside the window ignored,
unknown windows refused with the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from toolwire.core.errors import InvalidRequest
from toolwire.core.latency import LatencySample, first_bucket, latency_series, percentile

END = datetime(2026, 11, 30, 12, 7, 30, tzinfo=UTC)


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 50) == 10
    assert percentile(values, 95) == 19
    assert percentile([7.0], 95) == 7


def test_samples_fall_in_aligned_buckets_with_gaps_as_none() -> None:
    assert first_bucket(END, "1h") == datetime(2026, 11, 30, 11, 10, tzinfo=UTC)
    at = datetime(2026, 11, 30, 12, 5, 1, tzinfo=UTC)  # the last 5-minute bucket
    samples = [LatencySample("shop", at, float(ms)) for ms in (10, 20, 30, 40, 400)]
    samples.append(LatencySample("maps", at - timedelta(minutes=30), 5.0))
    samples.append(LatencySample("shop", END - timedelta(hours=2), 9999.0))  # outside
    series = latency_series(samples, END, "1h")
    assert len(series.buckets) == 12 and series.bucket_s == 300
    assert series.buckets[-1] == datetime(2026, 11, 30, 12, 5, tzinfo=UTC)
    shop = series.upstreams["shop"]
    assert shop["p50_ms"][-1] == 30 and shop["p95_ms"][-1] == 400 and shop["calls"][-1] == 5
    assert shop["p50_ms"][:-1] == [None] * 11 and sum(shop["calls"]) == 5
    maps = series.upstreams["maps"]
    assert maps["calls"][5] == 1 and maps["p95_ms"][5] == 5
    assert list(series.upstreams) == ["maps", "shop"]


def test_day_buckets_cover_a_week() -> None:
    series = latency_series([], END, "7d")
    assert len(series.buckets) == 7 and series.buckets[-1] == datetime(2026, 11, 30, tzinfo=UTC)
    assert series.upstreams == {}


def test_an_unknown_window_is_refused_with_the_windows_there_are() -> None:
    with pytest.raises(InvalidRequest) as refused:
        latency_series([], END, "5y")
    assert refused.value.details["windows"] == ["1h", "24h", "7d"]
