"""The catalog file: which tools are served, where they reach, at what price, under which limits.

Read at start (and on reload) into a `CatalogConfig`, checked against a JSON Schema
(`toolwire.config.schema`) so that a typo is reported with its location instead of being silently
ignored, then compiled into a `Catalog` by `build_catalog`. Sections:

    include      other catalog files (e.g. a provider spec from examples/), merged under this one
    builtins     which built-in tools to serve
    upstreams    HTTP upstreams: base URL, auth (a vault secret), timeout, retries, limits
    tools        declarative HTTP tools over those upstreams      (see config/upstreams.py)
    openapi      curated OpenAPI imports                          (see config/upstreams.py)
    databases    read-only SQL scopes                             (see config/upstreams.py)
    mcp          federated MCP servers (stdio, Streamable HTTP, HTTP+SSE; docs/federation.md)
    prices / charge_policy / timeouts   per tool or `tool.operation`, for every kind of tool
    limits       rate limits per key, key x tool, plan, upstream  (see config/rules.py)
    policy       destructive grants, argument constraints, result caps  (see config/rules.py)
    audit        per tool or `tool.operation`: `{arguments: true}` keeps its arguments (redacted)

What it is not: the adapters themselves (`toolwire.upstream`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from toolwire.config import rules
from toolwire.config.plan import CatalogPlan
from toolwire.config.schema import SCHEMA
from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec
from toolwire.core.model import credits_to_micro
from toolwire.core.policy import Policy
from toolwire.core.ratelimits import LimitRules
from toolwire.core.servers import VirtualServer
from toolwire.upstream.health import HealthRegistry
from toolwire.vault.redact import Redactor

__all__ = [
    "EXAMPLE",
    "SCHEMA",
    "CatalogConfig",
    "CatalogPlan",
    "ConfigError",
    "apply",
    "build_catalog",
    "build_plan",
    "load_config",
    "parse_config",
    "virtual_servers",
]

MAX_INCLUDE_DEPTH = 8
SECTIONS = ("upstreams", "tools", "openapi", "databases", "mcp", "servers")


class ConfigError(ValueError):
    """The catalog file is unreadable or invalid; the message names the file and location."""


@dataclass(frozen=True)
class CatalogConfig:
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    prices: Mapping[str, int] = field(default_factory=dict)
    byok_fees: Mapping[str, int] = field(default_factory=dict)
    """Credits per call on the caller's own credential (BYOK), like `prices`; unlisted: free."""
    charge_policy: Mapping[str, str] = field(default_factory=dict)
    timeouts: Mapping[str, float] = field(default_factory=dict)
    audit: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    """What audit records keep per tool or operation; only `arguments` (default false)."""
    upstreams: Mapping[str, Any] = field(default_factory=dict)
    tools: Mapping[str, Any] = field(default_factory=dict)
    openapi: Mapping[str, Any] = field(default_factory=dict)
    databases: Mapping[str, Any] = field(default_factory=dict)
    limits: LimitRules = field(default_factory=LimitRules)
    policy: Policy = field(default_factory=Policy)
    mcp: Mapping[str, Any] = field(default_factory=dict)
    servers: Mapping[str, Any] = field(default_factory=dict)
    """Virtual servers: name -> {tools: [globs], description} (`virtual_servers`)."""
    base_dir: Path = field(default_factory=Path.cwd)
    """Where relative paths in the file (OpenAPI specs, SQLite databases) are resolved from."""
    source: str = "config"

    def section(self, kind: str) -> Mapping[str, Any]:
        """The entries of one upstream section (`SECTIONS`) by name."""
        sections: dict[str, Mapping[str, Any]] = {
            "upstreams": self.upstreams,
            "tools": self.tools,
            "openapi": self.openapi,
            "databases": self.databases,
            "mcp": self.mcp,
        }
        return sections[kind]


def load_config(path: Path | None) -> CatalogConfig:
    if path is None:
        return CatalogConfig()
    raw = _read_with_includes(path, 0)
    return parse_config(raw, str(path), base_dir=path.resolve().parent)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def _read_with_includes(path: Path, depth: int) -> Any:
    """The file's content with its `include`d files merged beneath it (the including file wins,
    mapping by mapping), relative paths in included files made absolute."""
    if depth > MAX_INCLUDE_DEPTH:
        raise ConfigError(f"{path}: includes nest deeper than {MAX_INCLUDE_DEPTH}")
    raw = _read(path)
    if not isinstance(raw, dict) or "include" not in raw:
        return raw
    includes = raw.pop("include")
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{path}: at include: must be a list of file paths")
    merged: dict[str, Any] = {}
    for item in includes:
        included = path.parent / item
        content = _read_with_includes(included, depth + 1)
        if not isinstance(content, dict):
            raise ConfigError(f"{included}: must be a mapping")
        merged = _merge(merged, _absolutise(content, included.resolve().parent))
    return _merge(merged, raw)


def _absolutise(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative OpenAPI spec paths of an included file are relative to that file."""
    for entry in (raw.get("openapi") or {}).values():
        if isinstance(entry, dict) and isinstance(entry.get("spec"), str):
            spec = entry["spec"]
            if not spec.startswith(("http://", "https://")) and not Path(spec).is_absolute():
                entry["spec"] = str(base / spec)
    return raw


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return over


def parse_config(
    raw: Any, source: str = "config", *, base_dir: Path | None = None
) -> CatalogConfig:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw), key=lambda e: e.path)
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"{source}: at {where}: {err.message}")
    builtins = raw.get("builtins", {})
    prices, byok_fees = (_amounts(raw, table, source) for table in ("prices", "byok_fees"))
    try:
        limit_rules, policy = rules.limit_rules(raw, source), rules.policy(raw, source)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return CatalogConfig(
        include=tuple(builtins.get("include", ("*",))),
        exclude=tuple(builtins.get("exclude", ())),
        profiles=tuple(builtins.get("profiles", ())),
        modules=tuple(builtins.get("modules", ())),
        prices=prices,
        byok_fees=byok_fees,
        charge_policy=dict(raw.get("charge_policy", {})),
        timeouts=dict(raw.get("timeouts", {})),
        limits=limit_rules,
        policy=policy,
        audit=dict(raw.get("audit", {})),
        **{section: dict(raw.get(section, {})) for section in SECTIONS},
        base_dir=base_dir or Path.cwd(),
        source=source,
    )


def _amounts(raw: Mapping[str, Any], table: str, source: str) -> dict[str, int]:
    """A table of credit amounts by tool or operation, as non-negative micro-credits."""
    amounts: dict[str, int] = {}
    for name, amount in raw.get(table, {}).items():
        try:
            amounts[name] = credits_to_micro(amount)
        except ValueError as exc:
            raise ConfigError(f"{source}: at {table}/{name}: {exc}") from None
        if amounts[name] < 0:
            raise ConfigError(f"{source}: at {table}/{name}: a price cannot be negative")
    return amounts


def _lookup(table: Mapping[str, Any], tool: str, op: str) -> Any:
    """Operation override first (`tool.op`, or `tool` for a tool's default operation), then the
    tool-wide value."""
    qualified = tool if op == tool else f"{tool}.{op}"
    if qualified in table:
        return table[qualified]
    return table.get(tool)


def select_builtins(config: CatalogConfig, tools: list[ToolSpec]) -> list[ToolSpec]:
    """The built-in (and module) tools `builtins.include`/`exclude` choose."""
    return [
        tool
        for tool in tools
        if any(fnmatchcase(tool.name, p) for p in config.include)
        and not any(fnmatchcase(tool.name, p) for p in config.exclude)
    ]


def apply(config: CatalogConfig, tools: list[ToolSpec]) -> list[ToolSpec]:
    """Set prices, charge policies, timeouts and what audit keeps; a name matching no tool is an
    error."""
    known = {t.name for t in tools} | {f"{t.name}.{o.name}" for t in tools for o in t.operations}
    tables = (config.prices, config.byok_fees, config.charge_policy, config.timeouts, config.audit)
    for table in tables:
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"unknown tool or operation in config: {', '.join(unknown)}")
    for name, section in sorted(rules.named_tools(config.limits, config.policy).items()):
        if name not in known:
            raise ConfigError(
                f"{config.source}: at {section}/{name}: no tool or operation of that name"
            )
    chosen: list[ToolSpec] = []
    for tool in tools:
        ops = []
        for op in tool.operations:
            changes: dict[str, Any] = {}
            price = _lookup(config.prices, tool.name, op.name)
            if price is not None:
                changes["price"] = price
            fee = _lookup(config.byok_fees, tool.name, op.name)
            if fee is not None:
                changes["byok_fee"] = fee
            policy = _lookup(config.charge_policy, tool.name, op.name)
            if policy is not None:
                changes["charge_policy"] = policy
            timeout = _lookup(config.timeouts, tool.name, op.name)
            if timeout is not None:
                changes["timeout"] = float(timeout)
            audit = _lookup(config.audit, tool.name, op.name)
            if audit is not None:
                changes["audit_arguments"] = bool(audit.get("arguments", False))
            ops.append(dataclasses.replace(op, **changes) if changes else op)
        chosen.append(dataclasses.replace(tool, operations=tuple[OperationSpec, ...](ops)))
    return chosen


def virtual_servers(config: CatalogConfig) -> dict[str, VirtualServer]:
    """The `servers:` section as `VirtualServer`s by name."""
    return {
        name: VirtualServer(name, tuple(raw["tools"]), str(raw.get("description", "")))
        for name, raw in config.servers.items()
    }


def build_plan(
    config: CatalogConfig,
    extra_profiles: tuple[str, ...] = (),
    *,
    redactor: Redactor | None = None,
    health: HealthRegistry | None = None,
) -> CatalogPlan:
    """The chosen built-in tools plus every declared upstream tool (priced), and the operation
    sources (federated MCP servers) whose tools join them once discovered. `redactor` (the
    vault's) lets adapters register derived secrets such as OAuth tokens; `health` holds every
    upstream's breaker and concurrency cap."""
    from toolwire.config.upstreams import upstream_tools
    from toolwire.upstream.builtin import builtin_specs, module_specs

    profiles = tuple(dict.fromkeys((*config.profiles, *extra_profiles)))
    tools = builtin_specs(profiles=profiles)
    for source in config.modules:
        tools.extend(module_specs(source))
    tools = select_builtins(config, tools)
    try:
        built = upstream_tools(config, redactor or Redactor(), health)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{config.source}: {exc}") from None
    tools.extend(built.tools)
    taken: set[str] = set()
    for name in [t.name for t in tools] + [s.name for s in built.sources]:
        if name in taken:
            raise ConfigError(f"{config.source}: tool {name!r} is declared twice")
        taken.add(name)
    return CatalogPlan(
        apply(config, tools), built.sources, policy=config.policy, limits=config.limits
    )


def build_catalog(
    config: CatalogConfig,
    extra_profiles: tuple[str, ...] = (),
    *,
    redactor: Redactor | None = None,
) -> Catalog:
    """The catalog before any federated upstream is reached: `build_plan(...).compose()`."""
    return build_plan(config, extra_profiles, redactor=redactor).compose()


EXAMPLE = """\
# toolwire catalog: which tools this gateway serves, and at what price.
# Start the gateway with it:  toolwire serve --config toolwire.yaml
# Reference for every section (upstreams, tools, openapi, databases): docs/adapters.md

# Other catalog files merged under this one, e.g. a provider spec shipped in examples/providers/.
# Switching provider is changing this line.
include: []

builtins:
  # Built-in tools to serve, as globs over tool names (echo, calc, time, json, text, uuid).
  include: ["*"]
  exclude: []
  # Optional extra built-in catalogs, off by default (e.g. "conformance", the MCP test fixtures).
  profiles: []
  # Your own tools: Python modules (importable, e.g. on PYTHONPATH) holding a `registry`
  # (toolwire.upstream.builtin.BuiltinRegistry) of decorated, typed functions.
  modules: []

# Credits per call. A tool name sets the default for all its operations; `tool.operation`
# overrides it. Up to 6 decimals (credits are stored as integer micro-credits). Unlisted: free.
prices:
  echo: 0.001
  calc.evaluate: 0.01
  text: 0.002

# When a priced call is charged: "success" (default: failed calls are free) or "always".
charge_policy:
  text: success

# Seconds a tool may run before the call fails with UPSTREAM_TIMEOUT (default 30).
timeouts:
  text.regex_extract: 5

# Rate limits, counted per key and account (never per session); in Redis when
# TOOLWIRE_STATE_URL is redis://, shared by every instance. Reference: docs/limits-and-policy.md
# limits:
#   per_key: 600/minute
#   tools:
#     calc: {per_key: 60/minute}
#   plans:
#     default: {per_account: 10000/day}

# Policy: destructive operations need a `destructive:...` grant on the key; argument
# constraints beyond the schema; result caps. A refusal names its rule (details.rule).
# policy:
#   text.regex_extract:
#     arguments:
#       text: {pattern: "(?s).{0,2000}"}
#   uuid:
#     arguments: {count: {max: 50}}
#     max_result_bytes: 4096
# What a tool's audit records keep. By default only a keyed digest of the arguments;
# `arguments: true` keeps the arguments too, with every vault secret redacted (docs/audit.md).
# audit:
#   calc: {arguments: true}

# HTTP upstreams (credentials are vault secret names: `toolwire secrets set NAME`).
# upstreams:
#   tavily:
#     base_url: https://api.tavily.com
#     auth: {type: bearer, secret: tavily_api_key}

# Curated OpenAPI imports: only GET operations unless allow_methods says otherwise.
# openapi:
#   petstore:
#     spec: petstore.yaml           # or https://.../openapi.json
#     include: {tags: [pets]}

# Read-only SQL scopes.
# databases:
#   shop:
#     url: sqlite:///shop.db
#     tables: {orders: "*", customers: [id, name]}
#     row_limit: 100
#     statement_timeout: 5            # seconds
#     max_response_bytes: 5242880     # per answer, as JSON

# Other MCP servers, their tools served as <name>.<tool> (docs/federation.md).
# mcp:
#   clock:
#     command: mcp-server-time        # stdio; or url: https://... (Streamable HTTP or sse)
#     price: 0.001
"""
