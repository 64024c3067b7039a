"""`Face`: everything a door is handed, and nothing more (issue 10 item 4).

A door translates a protocol onto the core's faces: the `Gateway` (execute, visible, describe,
whoami, the catalog it renders), the `Authenticator` (a presented key -> `Principal`), and the
`Admin` service (accounts, keys, credits, budgets, BYOK). Transports also need the settings, the
shared state backend (MCP sessions and events, A2A tasks) and the secret that seals MCP session
tokens. The store, billing and vault stay behind the core's ports: no door can reach them (the
import allow-list in tests/test_architecture.py keeps `inbound` off `store` and `services`).

Built once per process by the composition root (`toolwire.app.face_of`), kept on
`app.state.face` for HTTP doors and handed to stdio directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from toolwire.core.admin import Admin
from toolwire.core.authenticator import Authenticator
from toolwire.core.gateway import Gateway
from toolwire.settings import Settings
from toolwire.state import StateBackend


class MetricsText(Protocol):
    """The process's metrics as the door serves them (`toolwire.metrics.Metrics`)."""

    async def scrape(self) -> bytes:
        """The Prometheus text exposition format (of the whole host, with several workers)."""
        ...


@dataclass(frozen=True)
class Face:
    gateway: Gateway
    auth: Authenticator
    admin: Admin
    settings: Settings
    state: StateBackend
    """Ephemeral shared state (memory:// or redis://)."""
    secret_key: bytes
    """The process secret; MCP session tokens are sealed with a key derived from it."""
    metrics: MetricsText | None = None
    """Prometheus metrics for `GET /metrics` (None when `Settings.metrics` is off)."""
