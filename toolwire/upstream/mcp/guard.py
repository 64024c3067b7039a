"""The seam to per-upstream health: what the MCP adapter needs from a breaker and bulkhead.

`toolwire.upstream.health.Health` implements it. A guard refuses a call before it starts
(`UpstreamError`, reason `circuit_open` or `concurrency_limit`) and learns from each outcome.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class UpstreamGuard(Protocol):
    def call(self) -> AbstractAsyncContextManager[None]:
        """Enter around one call; raises `UpstreamError` at once when the upstream is refused."""
        ...

    def record_success(self, seconds: float) -> None: ...

    def record_failure(self, reason: str) -> None: ...

    def status(self) -> dict[str, Any]:
        """breaker state, calls in flight, last error, p50 latency (ms)."""
        ...
