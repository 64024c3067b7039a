"""Health of one upstream, for any adapter kind: a circuit breaker, a concurrency cap, latency.

What it is: `UpstreamHealth` (one per upstream) and `HealthRegistry` (this process's set of
them, for `toolwire upstreams list`, the admin API and `/readyz`). An adapter wraps each request
to its upstream in `async with health.guard() as attempt:` and reports a failure of the upstream
itself (unreachable, reset, timed out, a 5xx) with `attempt.failed(reason)`; an exception leaving
the block that is an `UpstreamError` counts as one too. (`call()` + `record_success` /
`record_failure` is the same guard with the outcome reported by hand: the MCP adapter's shape.)
A caller's mistake (a 4xx) is not the upstream's ill health and counts as success.

    closed     calls pass; `failure_threshold` consecutive failures open the breaker
    open       calls fail at once with UPSTREAM_ERROR (reason "circuit_open") for `reset_after`
               seconds; then one probe call is let through (half-open)
    half_open  the probe's success closes the breaker, its failure opens it again

The concurrency cap (a bulkhead) fails a call over `max_concurrency` in flight at once with
UPSTREAM_ERROR (reason "upstream_busy"): a slow upstream holds at most that many calls, and every
other upstream's tools are unaffected. Latency: the median of the last `WINDOW` successful calls.

Several instances share their breakers through a `BreakerShare` (`toolwire.state.breakers`, over
Redis when `TOOLWIRE_STATE_URL` names it): an instance whose breaker opens tells the others, which
open theirs for the same episode (same opening time, same `reset_after`) without having to fail
`failure_threshold` calls of their own; when the episode's `reset_after` is over, one instance
wins the right to send the half-open probe (the others keep refusing and try again a second
later), and its outcome closes or reopens every instance's breaker. Consecutive failures are
counted per instance; nothing is shared on a call that passes (no round trip on the hot path).
The concurrency cap and latency stay per process. Without a share (one process), or when the
share cannot be reached, each breaker works on its own as before.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from toolwire.core.errors import UpstreamError, UpstreamTimeout

log = logging.getLogger("toolwire.upstream.health")

State = Literal["closed", "open", "half_open"]
WINDOW = 200
"""Successful calls whose latency the p50 is taken over."""
PROBE_RETRY_S = 1.0
"""An instance that lost the probe election refuses for this long, then asks again."""


class BreakerShare(Protocol):
    """How the breakers of several instances agree (`toolwire.state.breakers.BreakerBoard`)."""

    def announce(
        self, upstream: str, opened_at: float | None, reason: str | None, reset_after: float
    ) -> None:
        """This instance's breaker for `upstream` opened at `opened_at` (Unix seconds) because
        of `reason`, or closed (`opened_at` None). Returns at once (sent in the background)."""

    async def claim_probe(self, upstream: str, opened_at: float, ttl_s: float) -> bool:
        """Whether this instance sends the half-open probe of the episode that opened at
        `opened_at` (one instance wins per episode; the claim lapses after `ttl_s`)."""


@dataclass(frozen=True)
class HealthPolicy:
    """Thresholds from the catalog's `health:` entry of an upstream."""

    failure_threshold: int = 5
    """Consecutive failures that open the breaker."""
    reset_after: float = 30.0
    """Seconds the breaker stays open before a probe call is let through."""
    max_concurrency: int = 64
    """Calls in flight to this upstream at once; more fail fast."""

    @classmethod
    def from_config(cls, raw: Any) -> HealthPolicy:
        raw = raw or {}
        return cls(
            failure_threshold=int(raw.get("failure_threshold", cls.failure_threshold)),
            reset_after=float(raw.get("reset_after", cls.reset_after)),
            max_concurrency=int(raw.get("max_concurrency", cls.max_concurrency)),
        )


class Attempt:
    """One call inside `UpstreamHealth.call`: `failed(reason)` marks the upstream at fault."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: str | None = None

    def failed(self, reason: str) -> None:
        self.reason = reason


class UpstreamHealth:
    """Breaker, bulkhead and latency of one upstream (`name`, of `kind`, e.g. "http")."""

    def __init__(
        self,
        name: str,
        kind: str,
        policy: HealthPolicy | None = None,
        *,
        clock: Any = time.monotonic,
    ) -> None:
        self.name = name
        self.kind = kind
        self.policy = policy or HealthPolicy()
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._opened_wall = 0.0
        """When the current episode opened (Unix seconds): its identity between instances."""
        self._probing = False
        self.share: BreakerShare | None = None
        self.in_flight = 0
        self.calls = 0
        self.failed_calls = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._latencies: deque[float] = deque(maxlen=WINDOW)

    @property
    def state(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.policy.reset_after:
            return "half_open"
        return self._state

    def p50_ms(self) -> float | None:
        return round(statistics.median(self._latencies), 3) if self._latencies else None

    def _refuse(self, reason: str, message: str) -> UpstreamError:
        self.rejected += 1
        return UpstreamError(message, details={"upstream": self.name, "reason": reason})

    def _admit(self) -> bool:
        """Let a call in, or raise; True when the call is the half-open probe."""
        state = self.state
        if state == "open" or (state == "half_open" and self._probing):
            retry = max(0.0, self.policy.reset_after - (self._clock() - self._opened_at))
            error = self._refuse(
                "circuit_open",
                f"upstream {self.name!r} is failing ({self.last_error or 'unavailable'}); "
                f"its circuit is open, retry in {retry:.0f}s",
            )
            error.details["retry_after_s"] = round(retry, 3)
            raise error
        if self.in_flight >= self.policy.max_concurrency:
            raise self._refuse(
                "upstream_busy",
                f"upstream {self.name!r} already has {self.policy.max_concurrency} calls in flight",
            )
        probe = state == "half_open"
        if probe:
            self._probing = True
        return probe

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[Attempt]:
        """Guard one call and record its outcome: refuses fast when open or full; an
        `UpstreamError`/`UpstreamTimeout` leaving the block, or `attempt.failed(reason)`, is a
        failure; anything else that completes is a success (its latency kept)."""
        probe = self._admit()
        if probe:
            await self._elect()
        self.in_flight += 1
        self.calls += 1
        attempt = Attempt()
        started = self._clock()
        try:
            yield attempt
        except (UpstreamError, UpstreamTimeout) as exc:
            # only the reason code is kept: a message may carry upstream text (never a secret
            # here, but the state is shown on /readyz, so it keeps to an allow-list of codes)
            self._failure(probe, str(exc.details.get("reason") or exc.code.lower()))
            raise
        except BaseException:  # cancelled by the caller, or a bug: the upstream is not at fault
            self._unrecorded(probe)
            raise
        else:
            if attempt.reason is not None:
                self._failure(probe, attempt.reason)
            else:
                self._success(probe, self._clock() - started)
        finally:
            self.in_flight -= 1

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Admission only (the `UpstreamGuard` shape of the MCP adapter, branch fed-core): the
        caller reports the outcome with `record_success(seconds)` / `record_failure(reason)`."""
        probe = self._admit()
        if probe:
            await self._elect()
        self.in_flight += 1
        self.calls += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            if probe and self._probing:  # the probe ended unrecorded (cancelled)
                self._unrecorded(probe)

    def record_success(self, seconds: float) -> None:
        self._success(self._state != "closed" or self._probing, seconds)

    def record_failure(self, reason: str) -> None:
        self._failure(self._probing, reason)

    def status(self) -> dict[str, Any]:
        """The `UpstreamGuard` status: breaker state, calls in flight, last error, p50 (ms)."""
        return {
            "breaker": self.state,
            "in_flight": self.in_flight,
            "last_error": self.last_error,
            "p50_ms": self.p50_ms(),
        }

    async def _elect(self) -> None:
        """This call is the half-open probe here: with a share, only if this instance wins the
        episode's probe; otherwise it is refused and the breaker stays open `PROBE_RETRY_S`."""
        share = self.share
        if share is None:
            return
        try:
            won = await share.claim_probe(self.name, self._opened_wall, self.policy.reset_after)
        except Exception as exc:  # the share is unreachable: probe on our own, as alone
            log.warning("breaker of %s: probe election failed (%s); probing alone", self.name, exc)
            return
        if won:
            return
        self._probing = False
        self._state = "open"
        self._opened_at = self._clock() - self.policy.reset_after + PROBE_RETRY_S
        self._admit()  # raises circuit_open
        raise AssertionError("unreachable: the breaker was just reopened")  # pragma: no cover

    def apply(self, opened_at: float | None, reason: str | None) -> None:
        """Another instance's breaker for this upstream opened at `opened_at` (Unix seconds)
        because of `reason`, or closed (None): follow it, unless this one already knows a
        later episode. Nothing is announced back."""
        if opened_at is None:
            if self._state != "closed":
                self._state = "closed"
                self._failures = 0
                self._probing = False
            return
        if self._state != "closed" and self._opened_wall >= opened_at:
            return
        self._state = "open"
        self._opened_wall = opened_at
        self._opened_at = self._clock() - max(0.0, time.time() - opened_at)
        self._probing = False
        self.last_error = reason
        self.last_error_at = opened_at

    def _unrecorded(self, probe: bool) -> None:
        """A probe that ended without an outcome: stay open, let another probe through later."""
        if probe:
            self._probing = False

    def _success(self, probe: bool, seconds: float) -> None:
        self._failures = 0
        self._latencies.append(seconds * 1000.0)
        if probe or self._state != "closed":
            reopened = self._state != "closed"
            self._state = "closed"
            if reopened and self.share is not None:
                self.share.announce(self.name, None, None, self.policy.reset_after)
        self._probing = False

    def _failure(self, probe: bool, reason: str) -> None:
        self.failed_calls += 1
        self._failures += 1
        self.last_error = reason
        self.last_error_at = now = time.time()
        if probe or self._failures >= self.policy.failure_threshold:
            self._state = "open"
            self._opened_at = self._clock()
            self._opened_wall = now
            if self.share is not None:
                self.share.announce(self.name, self._opened_wall, reason, self.policy.reset_after)
        self._probing = False

    def snapshot(self) -> dict[str, Any]:
        """The state as `toolwire upstreams list` and `/readyz` show it (JSON)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "in_flight": self.in_flight,
            "max_concurrency": self.policy.max_concurrency,
            "calls": self.calls,
            "failures": self.failed_calls,
            "rejected": self.rejected,
            "consecutive_failures": self._failures,
            "last_error": self.last_error,
            "p50_ms": self.p50_ms(),
        }


class Health(UpstreamHealth):
    """`UpstreamHealth` with the constructor of the MCP adapter's minimal one (branch fed-core),
    so that adapter runs on this module unchanged."""

    def __init__(
        self,
        upstream: str,
        *,
        max_concurrency: int = 64,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        kind: str = "mcp",
    ) -> None:
        super().__init__(
            upstream, kind, HealthPolicy(failure_threshold, reset_after, max_concurrency)
        )


class HealthRegistry:
    """This process's `UpstreamHealth` per upstream name (`UpstreamReport` for the core)."""

    def __init__(self, *, clock: Any = time.monotonic) -> None:
        self._by_name: dict[str, UpstreamHealth] = {}
        self._share: BreakerShare | None = None
        self._clock = clock

    def for_upstream(
        self, name: str, kind: str, policy: HealthPolicy | None = None
    ) -> UpstreamHealth:
        """The health of `name`, created on first use (a reload keeps its state)."""
        found = self._by_name.get(name)
        if found is None or found.policy != (policy or HealthPolicy()) or found.kind != kind:
            found = self._by_name[name] = UpstreamHealth(name, kind, policy, clock=self._clock)
            found.share = self._share
        return found

    def share_with(self, share: BreakerShare) -> None:
        """Agree with the other instances through `share`, from now on."""
        self._share = share
        for health in self._by_name.values():
            health.share = share

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def apply(self, upstream: str, opened_at: float | None, reason: str | None) -> None:
        """Another instance's breaker for `upstream` opened or closed (`UpstreamHealth.apply`);
        ignored for an upstream this instance does not have."""
        found = self._by_name.get(upstream)
        if found is not None:
            found.apply(opened_at, reason)

    def forget(self, name: str) -> None:
        """Drop `name`'s health (a reload removed that upstream): no longer reported."""
        self._by_name.pop(name, None)

    def snapshot(self) -> list[dict[str, Any]]:
        return [h.snapshot() for _, h in sorted(self._by_name.items())]
