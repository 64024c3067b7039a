"""The catalog file: which tools are served, at what price, under which limits.

Read at start (and on reload) into a `CatalogConfig`, checked against a JSON Schema so that a typo
is reported with its location instead of being silently ignored, then compiled into a `Catalog`.
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

from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec
from toolwire.core.model import credits_to_micro

_AMOUNT = {"type": ["number", "string"]}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "builtins": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "include": {"type": "array", "items": {"type": "string"}},
                "exclude": {"type": "array", "items": {"type": "string"}},
                "profiles": {"type": "array", "items": {"type": "string"}},
                "modules": {"type": "array", "items": {"type": "string"}},
            },
        },
        "prices": {"type": "object", "additionalProperties": _AMOUNT},
        "charge_policy": {
            "type": "object",
            "additionalProperties": {"enum": ["success", "always"]},
        },
        "timeouts": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
    },
}


class ConfigError(ValueError):
    """The catalog file is unreadable or invalid; the message names the file and location."""


@dataclass(frozen=True)
class CatalogConfig:
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    prices: Mapping[str, int] = field(default_factory=dict)
    charge_policy: Mapping[str, str] = field(default_factory=dict)
    timeouts: Mapping[str, float] = field(default_factory=dict)


def load_config(path: Path | None) -> CatalogConfig:
    if path is None:
        return CatalogConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, str(path))


def parse_config(raw: Any, source: str = "config") -> CatalogConfig:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw), key=lambda e: e.path)
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"{source}: at {where}: {err.message}")
    builtins = raw.get("builtins", {})
    prices: dict[str, int] = {}
    for name, amount in raw.get("prices", {}).items():
        try:
            prices[name] = credits_to_micro(amount)
        except ValueError as exc:
            raise ConfigError(f"{source}: at prices/{name}: {exc}") from None
        if prices[name] < 0:
            raise ConfigError(f"{source}: at prices/{name}: a price cannot be negative")
    return CatalogConfig(
        include=tuple(builtins.get("include", ("*",))),
        exclude=tuple(builtins.get("exclude", ())),
        profiles=tuple(builtins.get("profiles", ())),
        modules=tuple(builtins.get("modules", ())),
        prices=prices,
        charge_policy=dict(raw.get("charge_policy", {})),
        timeouts=dict(raw.get("timeouts", {})),
    )


def _lookup(table: Mapping[str, Any], tool: str, op: str) -> Any:
    """Operation override first (`tool.op`, or `tool` for a tool's default operation), then the
    tool-wide value."""
    qualified = tool if op == tool else f"{tool}.{op}"
    if qualified in table:
        return table[qualified]
    return table.get(tool)


def apply(config: CatalogConfig, tools: list[ToolSpec]) -> list[ToolSpec]:
    """Filter tools by include/exclude and set prices, charge policies and timeouts."""
    known = {t.name for t in tools} | {f"{t.name}.{o.name}" for t in tools for o in t.operations}
    for table in (config.prices, config.charge_policy, config.timeouts):
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"unknown tool or operation in config: {', '.join(unknown)}")
    chosen: list[ToolSpec] = []
    for tool in tools:
        if not any(fnmatchcase(tool.name, p) for p in config.include):
            continue
        if any(fnmatchcase(tool.name, p) for p in config.exclude):
            continue
        ops = []
        for op in tool.operations:
            changes: dict[str, Any] = {}
            price = _lookup(config.prices, tool.name, op.name)
            if price is not None:
                changes["price"] = price
            policy = _lookup(config.charge_policy, tool.name, op.name)
            if policy is not None:
                changes["charge_policy"] = policy
            timeout = _lookup(config.timeouts, tool.name, op.name)
            if timeout is not None:
                changes["timeout"] = float(timeout)
            ops.append(dataclasses.replace(op, **changes) if changes else op)
        chosen.append(dataclasses.replace(tool, operations=tuple[OperationSpec, ...](ops)))
    return chosen


def build_catalog(config: CatalogConfig, extra_profiles: tuple[str, ...] = ()) -> Catalog:
    from toolwire.upstream.builtin import builtin_specs, module_specs

    profiles = tuple(dict.fromkeys((*config.profiles, *extra_profiles)))
    tools = builtin_specs(profiles=profiles)
    for source in config.modules:
        tools.extend(module_specs(source))
    return Catalog(apply(config, tools))


EXAMPLE = """\
# toolwire catalog: which tools this gateway serves, and at what price.
# Start the gateway with it:  toolwire serve --config toolwire.yaml

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
"""
