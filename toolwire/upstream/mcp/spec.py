"""What the catalog declares about one federated MCP upstream (the `mcp:` section), as data.

    McpSpec(name, transport=Stdio(...) | Http(...), tools=ToolRules(...), limits=Limits(...))

Credentials are vault secret names only (`env_secrets`, `auth`); no value is held here. The config
layer (`toolwire.config.upstreams`) builds these from YAML; the adapter (`adapter.py`) reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Literal

from toolwire.core.pins import PinPolicy

if TYPE_CHECKING:  # the HTTP adapter's package: loaded only when a catalog declares HTTP auth
    from toolwire.upstream.http.injection import AuthSpec

Era = Literal["auto", "handshake"]
"""`auto`: ask `server/discover` (2026-07-28, stateless) and fall back to the `initialize`
handshake; `handshake`: always the handshake (an upstream that mishandles the probe)."""


@dataclass(frozen=True)
class Stdio:
    """A command toolwire spawns and speaks MCP to over its stdin/stdout."""

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    env_secrets: Mapping[str, str] = field(default_factory=dict)
    """Environment variable -> vault secret name; the value is read when the process starts."""
    cwd: str | None = None
    processes: int = 1
    """Pool size: at most this many processes per credential (the first is kept, extra ones are
    started when every process is busy and reaped after `idle_timeout` seconds unused)."""
    idle_timeout: float = 300.0

    kind: Literal["stdio"] = "stdio"


@dataclass(frozen=True)
class Http:
    """A remote MCP server: Streamable HTTP (`streamable_http`) or the legacy HTTP+SSE (`sse`)."""

    url: str
    transport: Literal["streamable_http", "sse"] = "streamable_http"
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: AuthSpec | None = None
    allow_private_networks: bool = False

    kind: Literal["http"] = "http"
    processes: int = 1
    idle_timeout: float = 300.0


@dataclass(frozen=True)
class ToolRule:
    """Per-tool settings: price and BYOK fee (micro-credits), category, description, timeout."""

    price: int | None = None
    byok_fee: int | None = None
    category: str | None = None
    description: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class ToolRules:
    """Which upstream tools are served (globs over the upstream's own names) and on what terms."""

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    price: int = 0
    byok_fee: int = 0
    category: str = "mcp"
    timeout: float | None = None
    per_tool: Mapping[str, ToolRule] = field(default_factory=dict)

    def chosen(self, name: str) -> bool:
        return any(fnmatchcase(name, p) for p in self.include) and not any(
            fnmatchcase(name, p) for p in self.exclude
        )


@dataclass(frozen=True)
class Limits:
    """Bounds on what one upstream may make the gateway hold or forward."""

    connect_timeout: float = 15.0
    """Seconds for a connection (spawn + handshake or discover + first `tools/list`)."""
    max_result_bytes: int = 4 * 1024 * 1024
    """A tool result larger than this (as JSON) fails the call with `UPSTREAM_ERROR`
    (`details.reason == "too_large"`, `details.limit_bytes`)."""
    max_notifications: int = 200
    """Progress and log notifications forwarded per call; the rest are dropped and counted
    (one log line per call says how many)."""
    max_tools: int = 1000
    """Tools taken from one upstream's listing (and pages walked: at most 100)."""
    restart_backoff: float = 0.5
    """First delay before reconnecting a dead session; doubled up to `max_backoff`, with jitter."""
    max_backoff: float = 30.0
    ping_interval: float = 15.0
    """Seconds between liveness pings on an idle session (0: never)."""


@dataclass(frozen=True)
class McpSpec:
    name: str
    transport: Stdio | Http
    era: Era = "auto"
    tools: ToolRules = ToolRules()
    limits: Limits = Limits()
    pin_policy: PinPolicy = field(default_factory=lambda: PinPolicy(first_sight="approve"))
    """Pinning of this server's tool definitions (`toolwire.core.pins`)."""

    @property
    def credentials(self) -> dict[str, str]:
        """Credential slot -> vault secret name, for the core's credential step (BYOK-able)."""
        slots: dict[str, str] = {}
        if isinstance(self.transport, Stdio):
            slots.update({f"env:{var}": name for var, name in self.transport.env_secrets.items()})
        elif self.transport.auth is not None:
            slots.update(self.transport.auth.slots)
        return slots
