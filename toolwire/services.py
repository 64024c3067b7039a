"""The services one gateway process runs on, built once in the app's lifespan and passed to doors.

No module-level singletons: two apps in one process (tests do this) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from toolwire.core.admin import Admin
from toolwire.core.authenticator import Authenticator
from toolwire.core.gateway import Gateway
from toolwire.core.pins import PinGuard
from toolwire.settings import Settings
from toolwire.state import StateBackend
from toolwire.state.breakers import BreakerBoard

if TYPE_CHECKING:
    from toolwire.billing import Billing
    from toolwire.metrics import Metrics
    from toolwire.reload import Reloader
    from toolwire.store import Store


class Upstreams(Protocol):
    """The federated upstreams this process runs (`config.CatalogPlan`)."""

    def status(self) -> list[dict[str, Any]]:
        """One entry per upstream: transport, state, tools, processes, last error, p50 (ms)."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class Services:
    settings: Settings
    gateway: Gateway
    auth: Authenticator
    store: Store
    secret_key: bytes
    state: StateBackend
    """Ephemeral shared state (memory:// or redis://): MCP session revocations, fan-out."""
    billing: Billing
    """Idempotency, BYOK, budgets, usage reports, and this process's liveness row."""
    admin: Admin
    """Administration (accounts, keys, credits, budgets): what the admin doors translate onto."""
    reloader: Reloader
    """Hot catalog reload (file watch, SIGHUP, admin API, other instances' signals)."""
    upstreams: Upstreams | None = None
    """The federated MCP upstreams (status for /readyz and `toolwire upstreams list`)."""
    metrics: Metrics | None = None
    """This process's Prometheus metrics (None when `Settings.metrics` is off)."""
    pins: PinGuard | None = None
    """The pin check the gateway asks (`toolwire.core.pins`), refreshed by the app's lifespan."""
    breakers: BreakerBoard | None = None
    """The upstreams' circuit breakers agreed with the other instances."""

    async def start_sharing(self, *, sighup: bool = True) -> None:
        """Follow the other instances: catalog reloads (`Reloader.start`, with SIGHUP when
        `sighup`) and upstream breakers (`BreakerBoard.start`). Returns once subscribed."""
        await self.reloader.start(sighup=sighup)
        if self.breakers is not None:
            await self.breakers.start()

    async def stop_sharing(self) -> None:
        await self.reloader.stop()
        if self.breakers is not None:
            await self.breakers.stop()
