"""Building the catalog's upstream tools from the config sections `upstreams`, `tools`, `openapi`
and `databases` (already checked against the schema).

What it is: the translation from YAML mappings to adapter objects — `UpstreamSpec`/`HttpUpstream`,
`HttpOperation` with an `ExpressionRequest`, OpenAPI `build_tool`, SQL `view_tool` — with errors
that name the config location. Credentials are referenced by vault secret name only; no value is
read here. What it is not: the adapters' behaviour (`toolwire.upstream`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from toolwire.core.catalog import ToolSpec
from toolwire.core.federated import ContentSource
from toolwire.core.model import credits_to_micro
from toolwire.core.pins import PinMode, PinPolicy
from toolwire.core.ports import OperationSource
from toolwire.upstream.health import HealthPolicy, HealthRegistry
from toolwire.upstream.mcp import Http, McpSpec, Stdio, ToolRule, ToolRules
from toolwire.upstream.mcp import Limits as McpLimits
from toolwire.vault.redact import Redactor

if TYPE_CHECKING:
    from toolwire.config import CatalogConfig
    from toolwire.upstream.http import HttpUpstream
    from toolwire.upstream.mcp.adapter import McpUpstream


@dataclass
class Built:
    """What the upstream sections built: tools, operation sources, and the named HTTP upstreams
    the other sections refer to."""

    redactor: Redactor
    base_dir: Path
    source: str = "config"
    tools: list[ToolSpec] = field(default_factory=list)
    sources: list[OperationSource] = field(default_factory=list)
    content: list[ContentSource] = field(default_factory=list)
    """The sources that also serve resources and prompts (federated MCP servers)."""
    upstreams: dict[str, HttpUpstream] = field(default_factory=dict)
    health: HealthRegistry = field(default_factory=HealthRegistry)
    """This process's breaker and concurrency cap per upstream."""


# The HTTP and OpenAPI kinds live in `toolwire.config.http_upstreams`, imported when a catalog
# declares one: their stack (httpx, httpcore2, h11, jmespath's compiled requests) is megabytes an
# idle gateway without HTTP upstreams does not load (docs/design/lazy-loading.md).


def _upstream(name: str, raw: Mapping[str, Any], built: Built) -> None:
    from toolwire.config.http_upstreams import http_upstream

    built.upstreams[name] = http_upstream(name, raw, built.redactor, built.health)


def _tool(name: str, raw: Mapping[str, Any], built: Built) -> None:
    from toolwire.config.http_upstreams import http_tool

    built.tools.append(http_tool(name, raw, built.upstreams, built.source))


def _openapi(name: str, raw: Mapping[str, Any], built: Built) -> None:
    from toolwire.config.http_upstreams import openapi_tool
    from toolwire.upstream.openapi import OpenAPIError

    try:
        tool = openapi_tool(
            name, raw, built.upstreams, built.redactor, built.base_dir, built.health
        )
    except OpenAPIError as exc:
        raise ValueError(f"{raw['spec']}: {exc}") from None
    if tool is not None:
        built.tools.append(reaching(tool, raw.get("upstream", name)))


def _database(name: str, raw: Mapping[str, Any], built: Built) -> None:
    built.tools.append(reaching(database_tool(name, raw, built.base_dir), name))


def _mcp(name: str, raw: Mapping[str, Any], built: Built) -> None:
    upstream = mcp_upstream(name, raw, built.redactor, built.health)
    built.sources.append(upstream)
    built.content.append(upstream)


Factory = Callable[[str, Mapping[str, Any], Built], None]

KINDS: Mapping[str, Factory] = MappingProxyType(
    {
        "upstreams": _upstream,
        "tools": _tool,
        "openapi": _openapi,
        "databases": _database,
        "mcp": _mcp,
    }
)
"""The closed map of catalog section (upstream kind) -> factory, in build order (`tools` and
`openapi` refer to `upstreams`). A new kind of upstream is one row here and one schema entry."""


def upstream_tools(
    config: CatalogConfig, redactor: Redactor, health: HealthRegistry | None = None
) -> Built:
    """Every upstream section built, in `KINDS` order; `ConfigError` naming the location. Each
    upstream's breaker and cap come from `health` (this process's registry; fresh when None)."""
    from toolwire.config import ConfigError

    built = Built(redactor, config.base_dir, config.source, health=health or HealthRegistry())
    for kind, factory in KINDS.items():
        for name, raw in config.section(kind).items():
            try:
                factory(name, raw, built)
            except ConfigError:
                raise
            except ValueError as exc:
                raise ConfigError.at(config.source, f"{kind}/{name}", str(exc)) from None
    return built


def _micro(value: Any, what: str) -> int:
    amount = credits_to_micro(value)
    if amount < 0:
        raise ValueError(f"{what}: a price cannot be negative")
    return amount


def mcp_upstream(
    name: str, raw: Mapping[str, Any], redactor: Redactor, registry: HealthRegistry | None = None
) -> McpUpstream:
    """A federated MCP server from its `mcp:` entry (already checked against the schema).
    Raises `ValueError` for an entry that is neither or both of stdio and HTTP, or that mixes
    the two's keys."""
    stdio_keys = {"command", "args", "env", "env_secrets", "cwd"}
    http_keys = {"url", "transport", "headers", "auth", "allow_private_networks"}
    given = set(raw)
    if ("command" in raw) == ("url" in raw):
        raise ValueError("give exactly one of command (a stdio server) and url (an HTTP server)")
    wrong = sorted(given & (http_keys if "command" in raw else stdio_keys))
    if wrong:
        kind = "a stdio" if "command" in raw else "an HTTP"
        raise ValueError(f"{', '.join(wrong)} cannot be set for {kind} server")
    from toolwire.config.http_upstreams import auth_spec

    transport: Stdio | Http
    pool = {
        "processes": int(raw.get("processes", 1)),
        "idle_timeout": float(raw.get("idle_timeout", 300.0)),
    }
    if "command" in raw:
        transport = Stdio(
            command=raw["command"],
            args=tuple(raw.get("args", ())),
            env=dict(raw.get("env", {})),
            env_secrets=dict(raw.get("env_secrets", {})),
            cwd=raw.get("cwd"),
            **pool,  # type: ignore[arg-type]
        )
    else:
        if pool["processes"] != 1:
            raise ValueError("processes is for stdio servers (an HTTP upstream has one session)")
        transport = Http(
            url=raw["url"],
            transport=raw.get("transport", "streamable_http"),
            headers=dict(raw.get("headers", {})),
            auth=auth_spec(raw.get("auth")),
            allow_private_networks=bool(raw.get("allow_private_networks", False)),
            idle_timeout=pool["idle_timeout"],
        )
    per_tool = {
        tool: ToolRule(
            price=_micro(rule["price"], f"tools/{tool}/price") if "price" in rule else None,
            byok_fee=_micro(rule["byok_fee"], f"tools/{tool}/byok_fee")
            if "byok_fee" in rule
            else None,
            category=rule.get("category"),
            description=rule.get("description"),
            timeout=rule.get("timeout"),
        )
        for tool, rule in raw.get("tools", {}).items()
    }
    rules = ToolRules(
        include=tuple(raw.get("include", ("*",))),
        exclude=tuple(raw.get("exclude", ())),
        price=_micro(raw.get("price", 0), "price"),
        byok_fee=_micro(raw.get("byok_fee", 0), "byok_fee"),
        category=raw.get("category", "mcp"),
        timeout=raw.get("timeout"),
        per_tool=per_tool,
    )
    defaults = McpLimits()
    limits = McpLimits(
        connect_timeout=float(raw.get("connect_timeout", defaults.connect_timeout)),
        max_result_bytes=int(raw.get("max_result_bytes", defaults.max_result_bytes)),
        max_notifications=int(raw.get("max_notifications", defaults.max_notifications)),
        max_tools=int(raw.get("max_tools", defaults.max_tools)),
        ping_interval=float(raw.get("ping_interval", defaults.ping_interval)),
    )
    pinning = raw.get("pinning") or {}
    # Trust on first use by default for MCP servers: a tool first seen is approved, a changed
    # definition is held (docs/design/pinning.md); `first_sight: hold` makes every new tool wait.
    policy = pin_policy({"first_sight": "approve", **pinning}, default="pin")
    spec = McpSpec(
        name,
        transport,
        era=raw.get("era", "auto"),
        tools=rules,
        limits=limits,
        pin_policy=policy or PinPolicy(mode="off"),
    )
    health = (registry or HealthRegistry()).for_upstream(
        name,
        "mcp",
        HealthPolicy(
            failure_threshold=int(raw.get("failure_threshold", 5)),
            reset_after=float(raw.get("reset_after", 30.0)),
            max_concurrency=int(raw.get("max_concurrency", 64)),
        ),
    )
    from toolwire.upstream.mcp.adapter import McpUpstream  # the SDK: only when one is declared

    return McpUpstream(spec, redactor, health)


def reaching(tool: ToolSpec, upstream: str) -> ToolSpec:
    """`tool` with every operation naming `upstream` (audit records, metrics)."""
    ops = tuple(dataclasses.replace(op, upstream=upstream) for op in tool.operations)
    return dataclasses.replace(tool, operations=ops)


def pin_policy(raw: Mapping[str, Any] | None, *, default: PinMode = "pin") -> PinPolicy | None:
    """An upstream's `pinning:` entry as a `PinPolicy`; None when its policy is `off`. The
    default differs by kind: `pin` for federated upstreams, `off` for OpenAPI imports (whose
    document the operator curates; docs/design/pinning.md)."""
    raw = raw or {}
    mode = raw.get("policy", default)
    if mode == "off":
        return None
    return PinPolicy(mode=mode, first_sight=raw.get("first_sight", "hold"))


def sqlite_path(url: str, base_dir: Path) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("a SQLite scope needs a database file")
    path = Path(database)
    return path if path.is_absolute() else base_dir / path


def database_tool(name: str, raw: Mapping[str, Any], base_dir: Path) -> ToolSpec:
    url: str = raw["url"]
    timeout = float(raw.get("statement_timeout", 5.0))
    tables = {t: (None if cols == "*" else tuple(cols)) for t, cols in raw["tables"].items()}
    credentials = {"password": raw["password_secret"]} if "password_secret" in raw else {}
    # here: the SQL upstream (and sqlglot, ~10 MB) loads only when a view is configured
    from toolwire.upstream.sql import PostgresRunner, SqliteRunner, ViewSpec, view_tool
    from toolwire.upstream.sql.guard import DEFAULT_MAX_BYTES

    spec = ViewSpec(
        name=name,
        tables=tables,
        description=raw.get("description", ""),
        functions=frozenset(raw.get("functions", ())),
        row_limit=int(raw.get("row_limit", 100)),
        timeout=timeout,
        max_response_bytes=int(raw.get("max_response_bytes", DEFAULT_MAX_BYTES)),
        credentials=credentials,
    )
    runner: SqliteRunner | PostgresRunner
    if url.startswith("sqlite"):
        runner = SqliteRunner(sqlite_path(url, base_dir), timeout)
    else:
        parsed = make_url(url).set(drivername="postgresql")
        if parsed.password:
            raise ValueError("put the database password in the vault (password_secret)")
        runner = PostgresRunner(parsed.render_as_string(hide_password=False), timeout)
    return view_tool(spec, runner, category=raw.get("category", "data"))
