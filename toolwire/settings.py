"""Typed settings, read once from `TOOLWIRE_*` environment variables (and CLI flags on top).

A few fields, each with a default that runs on one machine with no setup. Nothing else in the
package reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8787


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path(".toolwire")
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    """SQLAlchemy URL; default: SQLite in the data directory."""
    state_url: str = field(default="memory://", repr=False)  # may hold a password
    config: Path | None = None
    """The catalog YAML (tools, prices, policies); built-in tools only when unset."""
    secret_key: str | None = field(default=None, repr=False)
    """Seals session ids and encrypts credentials; generated into the data directory if unset."""
    admin_key: str | None = field(default=None, repr=False)
    """Used as the admin key when set (automation); else one is generated on first start."""
    public_url: str | None = None
    """How clients reach this gateway (for printed snippets and OAuth metadata)."""
    max_body_bytes: int = 1024 * 1024
    header_timeout_s: float = 10.0
    """A request's line and headers must arrive within this (else 408 and the connection closes)."""
    body_timeout_s: float = 30.0
    """A request's whole body must arrive within this after its headers (else the connection
    closes). With the 1 MiB body limit that asks for ~35 KB/s from a client."""
    keep_alive_s: float = 5.0
    """An idle kept-alive connection closes after this."""
    max_connections: int = 1000
    """Open connections beyond this get 503 at once (SSE streams count: raise it for many
    listening MCP clients)."""
    workers: int = 1
    """Gateway processes `toolwire serve` runs on one port (`--workers`). Above 1 the state URL
    must be shared (redis://): `memory://` lives in one process (docs/design/scale-out.md)."""
    drain_timeout_s: float = 10.0
    """On SIGTERM: stop accepting, let calls in flight finish for up to this long, then cancel
    them (their reservations released), flush the ledger and audit, and exit."""
    default_timeout: float = 30.0
    pin_refresh_s: float = 2.0
    """How often this instance re-reads pin approvals from the database (`TOOLWIRE_PIN_REFRESH_S`):
    an approval made on another instance is served here within this many seconds."""
    key_cache_seconds: float = 5.0
    """How long a verified key is trusted before being looked up again (bounds revocation lag)."""
    demo_credits: int = 100
    log_level: str = "info"
    log_format: str = "console"
    """`console` for people, `json` for log shippers."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed besides loopback and the public URL's own origin, by CORS (every
    route) and by the MCP door's Origin check alike (`toolwire.inbound.origins`); `*`: any."""
    allowed_origins: tuple[str, ...] = ()
    """Deprecated alias of `cors_origins` (`TOOLWIRE_ALLOWED_ORIGINS`), merged into it."""
    builtin_profiles: tuple[str, ...] = ()
    """Optional extra built-in catalogs to load (e.g. `conformance`)."""
    mcp_session_ttl_s: float = 24 * 3600.0
    """Lifetime of an MCP (handshake-era) session; the client initializes again after it."""
    mcp_input_timeout_s: float = 300.0
    """How long a 2026-07-28 client may take to come back with the answers to an
    `input_required` result (MRTR) before the parked call is cancelled and its credits released
    (`toolwire.inbound.mcp.rounds`)."""
    mcp_relay_timeout_s: float = 15.0
    """How long an instance relaying such a client's retry waits for any word from the instance
    holding the call before answering `owner_unreachable` (`toolwire.inbound.mcp.round_relay`)."""
    mcp_anonymous_key: str | None = field(default=None, repr=False)
    """Off by default. When set, MCP requests without any credential act as this API key (for
    the conformance suite, which cannot send headers). Never set it on a reachable gateway."""
    oauth_authorization_servers: tuple[str, ...] = ()
    """Issuer URLs named in /.well-known/oauth-protected-resource (RFC 9728) and 401s. When set,
    a bearer JWT is accepted from these issuers (docs/design/mcp-oauth.md)."""
    oauth_jwks_url: str | None = None
    """Where the issuers' signing keys are; default: `jwks_uri` from each issuer's metadata."""
    oauth_subject_claim: str = "sub"
    """The access-token claim that names the caller (mapped by `oauth_subject_keys`)."""
    oauth_subject_keys: tuple[str, ...] = ()
    """`subject=key_id` (or `issuer#subject=key_id`) pairs: a token of that subject acts as that
    API key (its account, scopes, budgets, credits). An unmapped subject gets a 401."""
    idempotency_window_s: float = 24 * 3600.0
    """How long an Idempotency-Key is remembered; a retry after that runs (and is charged) anew."""
    instance_dead_after_s: float = 30.0
    """A gateway process whose heartbeat is older than this is dead: its reservations resolve."""
    db_connect_timeout_s: float = 5.0
    """PostgreSQL: opening a connection fails after this (the call is answered UNAVAILABLE)."""
    db_pool_timeout_s: float = 10.0
    """PostgreSQL: waiting for a free pooled connection fails after this (UNAVAILABLE)."""
    db_statement_timeout_s: float = 60.0
    """PostgreSQL: a statement fails after this instead of holding a request (UNAVAILABLE)."""
    db_busy_timeout_s: float = 15.0
    """SQLite: a write waiting for another process's lock fails after this (UNAVAILABLE)."""
    explicit_forbidden: bool = False
    """Off by default: a tool the key may not call is answered exactly as an unknown one
    (TOOL_NOT_FOUND), in every door. On, it is answered FORBIDDEN, for debugging scopes."""
    a2a_task_retention_s: float = 24 * 3600.0
    """How long an A2A task stays readable (get, list, cancel, subscribe) after its last change."""
    reload_poll_s: float = 2.0
    """How often the catalog file (and its includes) is checked for changes, in seconds; a
    change reloads the catalog (`toolwire.reload`). 0: no watching (SIGHUP and the admin API
    still reload)."""
    a2a_skills: str = "tool"
    """The agent card's skills: one per `tool` (default) or one per `category` (large catalogs)."""
    upstream_start_wait_s: float = 15.0
    """At start, how long the gateway waits for federated MCP upstreams to list their tools before
    it serves (a slower or dead one joins later, from the background, with `list_changed`)."""
    audit_retention_days: float = 0.0
    """Audit records older than this many days are pruned, in batches, by a background task
    (hourly); 0 keeps them forever."""
    audit_prune_batch: int = 1000
    """Rows deleted per pruning transaction (bounded so writers are never held up for long)."""
    metrics: bool = True
    """Serve Prometheus metrics at `/metrics` (an admin key or `metrics_token` is required)."""
    metrics_token: str | None = field(default=None, repr=False)
    """A bearer token that may read `/metrics` (besides an admin key), for a scraper that should
    hold nothing more."""
    metrics_port: int | None = None
    """Serve `/metrics` on this port instead (same host, no authentication: bind it where only
    the scraper reaches); the main port then answers 404 there."""
    tracing: bool = False
    """OpenTelemetry spans per tool call (needs `pip install 'toolwire[otel]'`); exporters are
    configured the OpenTelemetry way (`OTEL_*` variables or code)."""
    console_oidc_issuer: str | None = None
    """Operators may sign in to the console with OpenID Connect at this issuer (its discovery
    document must name it exactly); the admin key still works. Needs `console_oidc_client_id`
    and `console_oidc_operators` (docs/console.md)."""
    console_oidc_client_id: str | None = None
    """The console's client id at the issuer; its redirect URI is `<public URL>/console/oidc/
    callback`."""
    console_oidc_client_secret: str | None = field(default=None, repr=False)
    """The client secret (sent with HTTP Basic to the token endpoint); none: a public client,
    PKCE only."""
    console_oidc_operators: tuple[str, ...] = ()
    """Who may sign in as an operator: `sub:SUBJECT` or `email:ADDRESS` (a verified email),
    comma-separated. Anyone else the issuer vouches for is refused."""
    console_oidc_scopes: str = "openid email"
    """The scopes the console asks for (`openid` is required)."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        merged = tuple(dict.fromkeys((*self.cors_origins, *self.allowed_origins)))
        object.__setattr__(self, "cors_origins", merged)
        object.__setattr__(self, "allowed_origins", ())
        for name, seconds in (
            ("db_connect_timeout_s", self.db_connect_timeout_s),
            ("db_pool_timeout_s", self.db_pool_timeout_s),
            ("db_statement_timeout_s", self.db_statement_timeout_s),
            ("db_busy_timeout_s", self.db_busy_timeout_s),
        ):
            if not 0 < seconds <= 3600:
                raise ValueError(f"TOOLWIRE_{name.upper()} must be from 0 (excluded) to 3600 s")
        if not 0 <= self.audit_retention_days <= 36_500:
            raise ValueError("TOOLWIRE_AUDIT_RETENTION_DAYS must be from 0 (keep) to 36500 days")
        if not 1 <= self.audit_prune_batch <= 100_000:
            raise ValueError("TOOLWIRE_AUDIT_PRUNE_BATCH must be from 1 to 100000 rows")
        if self.metrics_port is not None and not 1 <= self.metrics_port <= 65_535:
            raise ValueError("TOOLWIRE_METRICS_PORT must be a TCP port (1-65535)")
        if self.console_oidc_issuer:
            if not self.console_oidc_client_id:
                raise ValueError(
                    "TOOLWIRE_CONSOLE_OIDC_ISSUER needs TOOLWIRE_CONSOLE_OIDC_CLIENT_ID"
                )
            if not self.console_oidc_operators:
                raise ValueError(
                    "TOOLWIRE_CONSOLE_OIDC_ISSUER needs TOOLWIRE_CONSOLE_OIDC_OPERATORS "
                    "(sub:SUBJECT or email:ADDRESS, comma-separated)"
                )
            for entry in self.console_oidc_operators:
                kind, _, value = entry.partition(":")
                if kind not in ("sub", "email") or not value.strip():
                    raise ValueError(
                        f"TOOLWIRE_CONSOLE_OIDC_OPERATORS: {entry!r} is not sub:SUBJECT or "
                        "email:ADDRESS"
                    )
            if "openid" not in self.console_oidc_scopes.split():
                raise ValueError("TOOLWIRE_CONSOLE_OIDC_SCOPES must include openid")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return _async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'toolwire.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"TOOLWIRE_{f.name.upper()}")
            if raw is None or f.name == "extra":
                continue
            values[f.name] = _coerce(f.name, str(f.type), raw)
        return cls(**values)


def _coerce(name: str, type_name: str, raw: str) -> Any:
    try:
        if type_name.startswith("bool"):
            return _boolean(raw)
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if type_name.startswith("tuple"):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if "Path" in type_name:
            return Path(raw) if raw else None
    except ValueError as exc:
        raise ValueError(f"TOOLWIRE_{name.upper()}: {exc}") from exc
    return raw or None if "None" in type_name else raw


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _async_url(url: str) -> str:
    """Accept the URLs people paste (`postgresql://`, `sqlite:///`) and pick the async driver."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
