"""Per-upstream health: a concurrency cap (bulkhead), a circuit breaker, latency and last error.

    guard = Health("search", max_concurrency=32, failure_threshold=5, reset_after=30)
    async with guard.call():        # UpstreamError at once when open or full
        ...                         # then guard.record_success(seconds) / record_failure(reason)

A minimal implementation written with the MCP upstream (branch fed-core) against the
`UpstreamGuard` Protocol (`toolwire.upstream.mcp.guard`); the generic module of the health work
(branch fed-pins) replaces it at merge. Breaker: `closed` -> `open` after `failure_threshold`
failures in a row (calls fail fast with reason `circuit_open`) -> after `reset_after` seconds one
trial call (`half_open`) closes it again on success. Per process.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Literal

from toolwire.core.errors import UpstreamError

BreakerState = Literal["closed", "open", "half_open"]


class Health:
    def __init__(
        self,
        upstream: str,
        *,
        max_concurrency: int = 64,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        window: int = 200,
    ) -> None:
        self.upstream = upstream
        self.max_concurrency = max_concurrency
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.in_flight = 0
        self.failures = 0
        self.state: BreakerState = "closed"
        self.opened_at = 0.0
        self.last_error: str | None = None
        self._latencies: deque[float] = deque(maxlen=window)
        self._trial = False

    def _refuse(self, reason: str, message: str) -> UpstreamError:
        return UpstreamError(message, details={"upstream": self.upstream, "reason": reason})

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        trial = False
        if self.state == "open":
            if time.monotonic() - self.opened_at < self.reset_after:
                raise self._refuse(
                    "circuit_open",
                    f"{self.upstream} is failing ({self.last_error}); calls are refused for now",
                )
            self.state, self._trial, trial = "half_open", True, True
        elif self.state == "half_open" and self._trial:
            raise self._refuse("circuit_open", f"{self.upstream} is being retried; try again")
        if self.in_flight >= self.max_concurrency:
            raise self._refuse(
                "concurrency_limit",
                f"{self.upstream} already has {self.max_concurrency} calls running",
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            if trial and self.state == "half_open":  # the trial ended unrecorded (cancelled)
                self.state, self._trial, self.opened_at = "open", False, time.monotonic()

    def record_success(self, seconds: float) -> None:
        self._latencies.append(seconds)
        self.failures = 0
        self.state = "closed"
        self._trial = False

    def record_failure(self, reason: str) -> None:
        self.last_error = reason
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            self.state = "open"
            self.opened_at = time.monotonic()
            self._trial = False

    def p50_ms(self) -> float | None:
        if not self._latencies:
            return None
        return round(statistics.median(self._latencies) * 1000, 3)

    def status(self) -> dict[str, Any]:
        return {
            "breaker": self.state,
            "in_flight": self.in_flight,
            "last_error": self.last_error,
            "p50_ms": self.p50_ms(),
        }
