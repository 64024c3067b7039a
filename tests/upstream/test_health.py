"""`UpstreamHealth`'s breaker through its states, on a clock the test moves (no sleeps)."""

from __future__ import annotations

import pytest

from toolwire.core.errors import UpstreamError, UpstreamTimeout
from toolwire.upstream.health import Health, HealthPolicy, HealthRegistry, UpstreamHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(health: UpstreamHealth) -> str:
    """The state as read now (a property the clock changes: no narrowing)."""
    return health.state


async def fail(health: UpstreamHealth) -> None:
    with pytest.raises(UpstreamTimeout):
        async with health.guard():
            raise UpstreamTimeout("slow", details={"timeout_s": 1})


async def refused(health: UpstreamHealth) -> str:
    with pytest.raises(UpstreamError) as caught:
        async with health.guard():
            raise AssertionError("let through")
    return str(caught.value.details["reason"])


async def test_the_breaker_opens_then_lets_one_probe_through_and_closes_on_its_success() -> None:
    clock = Clock()
    health = UpstreamHealth("up", "http", HealthPolicy(2, 10.0, 8), clock=clock)
    await fail(health)
    assert state(health) == "closed"
    await fail(health)
    assert state(health) == "open"
    assert await refused(health) == "circuit_open"
    clock.now += 10
    assert state(health) == "half_open"
    async with health.guard():  # the probe; a second caller meanwhile is refused
        assert await refused(health) == "circuit_open"
    assert state(health) == "closed"
    assert health.snapshot()["consecutive_failures"] == 0


async def test_a_failed_probe_opens_the_breaker_again_and_a_cancelled_one_does_not_count() -> None:
    clock = Clock()
    health = UpstreamHealth("up", "http", HealthPolicy(1, 5.0, 8), clock=clock)
    await fail(health)
    clock.now += 5
    with pytest.raises(KeyboardInterrupt):
        async with health.guard():
            raise KeyboardInterrupt  # not the upstream's fault
    assert state(health) == "half_open"
    await fail(health)
    assert state(health) == "open"
    assert health.last_error == "upstream_timeout"  # a reason code, never upstream text


async def test_a_failure_marked_by_the_adapter_counts_and_latency_is_kept() -> None:
    clock = Clock()
    health = UpstreamHealth("up", "http", HealthPolicy(1, 5.0, 8), clock=clock)
    async with health.guard():
        clock.now += 0.25
    assert health.p50_ms() == 250.0
    async with health.guard() as attempt:
        attempt.failed("http_status 503")
    assert (state(health), health.last_error) == ("open", "http_status 503")


async def test_the_mcp_adapters_shape_records_by_hand() -> None:
    health = Health("mcp-up", max_concurrency=1, failure_threshold=1, reset_after=60)
    async with health.call():
        with pytest.raises(UpstreamError) as busy:
            async with health.call():
                pass
        assert busy.value.details["reason"] == "upstream_busy"
    health.record_success(0.5)
    assert health.status() == {
        "breaker": "closed",
        "in_flight": 0,
        "last_error": None,
        "p50_ms": 500.0,
    }
    health.record_failure("unreachable")
    assert health.status()["breaker"] == "open"


def test_the_registry_keeps_an_upstreams_state_across_rebuilds_with_the_same_policy() -> None:
    registry = HealthRegistry()
    first = registry.for_upstream("a", "http")
    assert registry.for_upstream("a", "http") is first
    assert registry.for_upstream("a", "http", HealthPolicy(failure_threshold=9)) is not first
    assert [row["name"] for row in registry.snapshot()] == ["a"]
