"""From a checked OpenAPI document and a curation to tool operations over the HTTP adapter.

For each operation: path, query, header and cookie parameters (path-item and operation level,
`$ref`s followed) and the JSON request body become one input schema. An object body's properties
are merged beside the parameters (nested under `body` when a name would clash, or when the body is
not an object); read-only properties are left out of the input. Schemas are converted once per
document and shared as `$defs` (`schemas.py`). Parameters the gateway owns (auth, framing
headers) are never arguments (`params.py`). Each argument remembers its location and style, so
`LocatedRequest` can put it back on the wire as declared.

What it is: `plan()` -> a `Planned` per operation (exposed or hidden, with the reason), the one
decision shared by `toolwire openapi inspect` and the catalog: an operation it exposes always
compiles (`catalog.check_input_schema`), fits the schema budget (`budget.py`) and has a unique
valid name. `build_tool()` -> the `ToolSpec`. What it is not: the loading or curation rules
(`document.py`, `curation.py`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolwire.core.catalog import Annotations, OperationSpec, ToolSpec, check_input_schema
from toolwire.core.names import check_part
from toolwire.core.pins import PinPolicy, UpstreamToolDefinition
from toolwire.upstream.http.adapter import HttpOperation, HttpUpstream
from toolwire.upstream.http.request import PLACEHOLDER, LocatedRequest, Location
from toolwire.upstream.http.styles import Style
from toolwire.upstream.openapi.budget import DEFAULT_MAX_SCHEMA_TOKENS, estimate_tokens, slim
from toolwire.upstream.openapi.curation import (
    Curation,
    Override,
    annotations_for,
    gate,
    operation_id,
    snake_name,
)
from toolwire.upstream.openapi.document import METHODS, Document
from toolwire.upstream.openapi.params import Owned, content_schema, decide
from toolwire.upstream.openapi.schemas import SchemaSet, Unusable

MAX_DESCRIPTION = 1024


@dataclass
class Planned:
    operation_id: str
    method: str
    path: str
    tags: tuple[str, ...]
    name: str
    exposed: bool
    reason: str = ""
    description: str = ""
    upstream_description: str = ""
    """The description as the document gives it (before overrides): what pinning hashes."""
    title: str | None = None
    annotations: Annotations = field(default_factory=Annotations)
    input_schema: dict[str, Any] = field(default_factory=dict)
    locations: dict[str, tuple[Location, str]] = field(default_factory=dict)
    styles: dict[str, Style] = field(default_factory=dict)
    schema_tokens: int = 0
    """Estimated tokens of the input schema a model is given (after slimming)."""
    ignored: list[str] = field(default_factory=list)
    """Declared parameters that are not arguments, each with why (e.g. a reserved header)."""
    slimmed: bool = False


@dataclass(frozen=True)
class Limits:
    """Per-import limits: the schema budget in estimated tokens, and what to do above it."""

    max_schema_tokens: int = DEFAULT_MAX_SCHEMA_TOKENS
    oversize: str = "slim"
    """"slim" (slim, then hide if still over) or "hide"."""


@dataclass
class _Input:
    props: dict[str, Any] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    locations: dict[str, tuple[Location, str]] = field(default_factory=dict)
    styles: dict[str, Style] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def _parameters(
    document: Document, item: Mapping[str, Any], op: Mapping[str, Any], where: str
) -> list[Any]:
    merged: dict[tuple[str, str], Any] = {}
    for level, params in (
        ("path item", item.get("parameters", [])),
        ("", op.get("parameters", [])),
    ):
        for i, param in enumerate(params):
            at = f"{where}.parameters[{i}]" if not level else where
            resolved = document.deref(param, at)
            merged[
                (
                    resolved["in"],
                    resolved["name"].lower() if resolved["in"] == "header" else resolved["name"],
                )
            ] = resolved
    return list(merged.values())


def _json_media(content: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for media, body in content.items():
        kind = media.split(";")[0].strip().lower()
        if kind == "application/json" or kind.endswith("+json"):
            return body if isinstance(body, Mapping) else {}
    return None


def _add_parameters(
    got: _Input, schemas: SchemaSet, params: list[Any], owned: Owned, where: str
) -> None:
    for param in params:
        where_in, wire = param["in"], str(param["name"])
        try:
            decision = decide(param, owned)
        except ValueError as exc:
            raise Unusable(str(exc)) from None
        if decision.style is None:
            got.ignored.append(decision.reason)
            continue
        raw_schema = param.get("schema")
        if decision.style.style == "json":
            raw_schema = content_schema(param)
            if raw_schema is None:
                raise Unusable(f"parameter {wire!r} has no JSON content schema")
        elif raw_schema is None:
            raise Unusable(f"parameter {wire!r} has no schema")
        arg = wire if wire not in got.props else f"{where_in}_{wire}"
        if arg in got.props:
            raise Unusable(f"parameter {wire!r} is declared twice")
        schema = schemas.convert(raw_schema, where=f"{where}.parameters.{wire}")
        if param.get("description") and isinstance(schema, dict):
            schema = {**schema}
            schema.setdefault("description", param["description"])
        got.props[arg] = schema
        got.locations[arg] = (where_in, wire)
        got.styles[arg] = decision.style
        if param.get("required"):
            got.required.append(arg)


def _add_body(
    got: _Input, schemas: SchemaSet, document: Document, op: Mapping[str, Any], where: str
) -> None:
    body = op.get("requestBody")
    if body is None:
        return
    body = document.deref(body, f"{where}.requestBody")
    media = _json_media(body.get("content", {}))
    if media is None:
        kinds = ", ".join(body.get("content", {})) or "none"
        raise Unusable(f"request body has no JSON media type (has {kinds})")
    if "schema" not in media:
        raise Unusable("JSON request body has no schema")
    raw = document.deref(media["schema"], f"{where}.requestBody.schema")
    schema = schemas.convert(raw, where=f"{where}.requestBody.schema")
    body_props = schema.get("properties") if isinstance(schema, dict) else None
    flat = (
        isinstance(schema, dict)
        and isinstance(body_props, dict)
        and schema.get("type", "object") == "object"
        and not set(body_props) & set(got.props)
        and not any(k in schema for k in ("oneOf", "anyOf", "allOf", "additionalProperties"))
    )
    if flat:
        assert isinstance(body_props, dict) and isinstance(schema, dict)
        for name, prop in body_props.items():
            got.props[name] = prop
            got.locations[name] = ("body", name)
        if body.get("required"):
            got.required.extend(r for r in schema.get("required", []) if r in body_props)
    else:
        name = "body" if "body" not in got.props else "request_body"
        got.props[name] = schema
        got.locations[name] = ("body_whole", name)
        if body.get("required"):
            got.required.append(name)


def _input(
    schemas: SchemaSet,
    path: str,
    item: Mapping[str, Any],
    op: Mapping[str, Any],
    where: str,
    owned: Owned,
) -> _Input:
    got = _Input()
    _add_parameters(got, schemas, _parameters(schemas.document, item, op, where), owned, where)
    _add_body(got, schemas, schemas.document, op, where)
    _check_template(path, got)
    return got


def _check_template(path: str, got: _Input) -> None:
    """Every `{name}` of the path template is a declared path parameter the request builder
    can fill (else every call would fail, or send the braces)."""
    declared = {wire for where, wire in got.locations.values() if where == "path"}
    for match in re.finditer(r"\{[^}]*\}", path):
        filled = PLACEHOLDER.fullmatch(match.group(0))
        if filled is None or filled.group(1) or filled.group(2) not in declared:
            raise Unusable(f"path placeholder {match.group(0)} has no usable path parameter")


def _schema_of(got: _Input, schemas: SchemaSet) -> dict[str, Any]:
    input_schema: dict[str, Any] = {"type": "object", "properties": got.props}
    if got.required:
        input_schema["required"] = list(dict.fromkeys(got.required))
    input_schema["additionalProperties"] = False
    defs = schemas.defs_for(got.props)
    if defs:
        input_schema["$defs"] = defs
    return input_schema


def _description(op: Mapping[str, Any], method: str, path: str) -> str:
    parts = [str(op.get(k, "")).strip() for k in ("summary", "description")]
    text = "\n\n".join(dict.fromkeys(p for p in parts if p)) or f"{method} {path}"
    return text[:MAX_DESCRIPTION]


def _base_name(op_id: str, method: str, path: str, override: Override | None) -> str:
    """The operation's name: its override's, else from its operationId, else (no operationId,
    or one that is not plain ASCII, which would lose its letters) from method and path."""
    if override and override.name:
        return override.name
    if op_id.isascii():
        return snake_name(op_id)
    return snake_name(operation_id(method, path, None))


def _unique_name(name: str, op_id: str, method: str, path: str, taken: set[str]) -> str | None:
    """`name`, or when it is taken, the method+path name, or a name with a short hash of the
    operationId: two operations never share a name. None when even that is taken."""
    digest = hashlib.sha1(f"{method} {path} {op_id}".encode()).hexdigest()[:6]
    for candidate in (
        name,
        snake_name(operation_id(method, path, None)),
        f"{name[: 30 - 7].rstrip('_-')}_{digest}",
    ):
        if candidate not in taken:
            return candidate
    return None


def _schema_for(entry: Planned, got: _Input, schemas: SchemaSet, limits: Limits) -> str | None:
    """Fill `entry`'s schema; the reason it cannot be exposed, or None."""
    try:
        schema = check_input_schema(_schema_of(got, schemas))
    except (Unusable, ValueError) as exc:
        return f"no usable schema: {exc}"
    tokens = estimate_tokens(schema)
    if tokens > limits.max_schema_tokens and limits.oversize == "slim":
        schema = slim(schema, limits.max_schema_tokens)
        entry.slimmed = True
        tokens = estimate_tokens(schema)
    entry.input_schema, entry.schema_tokens = schema, tokens
    entry.locations, entry.styles, entry.ignored = got.locations, got.styles, got.ignored
    if tokens > limits.max_schema_tokens:
        return (
            f"schema too large: ~{tokens} tokens, over the budget of "
            f"{limits.max_schema_tokens} (max_schema_tokens)"
        )
    return None


def plan(
    document: Document,
    curation: Curation,
    *,
    owned: Owned | None = None,
    limits: Limits | None = None,
) -> list[Planned]:
    """A decision for every operation in the document, in document order. `owned`: the header
    and query names the upstream sets itself (`Owned.of(upstream_spec)`); `limits`: the schema
    budget."""
    owned = owned or Owned()
    limits = limits or Limits()
    schemas = SchemaSet(document)
    planned: list[Planned] = []
    taken: set[str] = set()
    for path, item in document.raw.get("paths", {}).items():
        for method_lower in METHODS:
            op = item.get(method_lower)
            if op is None:
                continue
            method = method_lower.upper()
            where = f"paths.{path}.{method_lower}"
            op_id = operation_id(method, path, op.get("operationId"))
            override = curation.overrides.get(op_id)
            tags = tuple(str(t) for t in op.get("tags", []))
            name = _base_name(op_id, method, path, override)
            entry = Planned(op_id, method, path, tags, name, exposed=False)
            entry.title = override.title if override else None
            entry.upstream_description = _description(op, method, path)
            entry.description = (
                override.description if override else None
            ) or entry.upstream_description
            entry.annotations = annotations_for(method, entry.title)
            reason = gate(curation, op_id, method, path, tags, bool(op.get("deprecated")))
            if reason is None:
                try:
                    got = _input(schemas, path, item, op, where, owned)
                except Unusable as exc:
                    reason = f"no usable schema: {exc}"
                except RecursionError:
                    reason = "no usable schema: it nests too deeply"
                else:
                    reason = _schema_for(entry, got, schemas, limits)
            if reason is None:
                reason = _name_reason(entry, override, taken)
            entry.reason = reason or ""
            entry.exposed = reason is None
            if entry.exposed:
                taken.add(entry.name)
            planned.append(entry)
    return planned


def _name_reason(entry: Planned, override: Override | None, taken: set[str]) -> str | None:
    if override and override.name:
        if entry.name in taken:
            return f"duplicate name {entry.name!r} (its override names a taken name)"
    else:
        unique = _unique_name(entry.name, entry.operation_id, entry.method, entry.path, taken)
        if unique is None:
            return f"duplicate name {entry.name!r} (rename it with an override)"
        entry.name = unique
    try:
        check_part(entry.name, "operation")
    except ValueError as exc:
        return f"invalid name: {exc}"
    return None


def build_tool(
    tool: str,
    description: str,
    category: str,
    document: Document,
    curation: Curation,
    upstream: HttpUpstream,
    limits: Limits | None = None,
    pinning: PinPolicy | None = None,
) -> tuple[ToolSpec | None, list[Planned]]:
    """The tool of the exposed operations (None when nothing is exposed), and the whole plan.
    With `pinning`, each operation carries the document's own definition of it (`origin`,
    upstream = `tool`, tool = the operation id) for the gateway's pin check."""
    planned = plan(document, curation, owned=Owned.of(upstream.spec), limits=limits)
    ops: list[OperationSpec] = []
    for entry in planned:
        if not entry.exposed:
            continue
        request = LocatedRequest(
            entry.method, entry.path, dict(entry.locations), dict(entry.styles)
        )
        ops.append(
            OperationSpec(
                name=entry.name,
                description=entry.description,
                input_schema=entry.input_schema,
                adapter=HttpOperation(upstream, request),
                annotations=entry.annotations,
                title=entry.title,
                credentials=upstream.credentials,
                origin=None if pinning is None else _origin(tool, entry),
                pin_policy=pinning or PinPolicy(mode="off"),
                upstream=upstream.spec.name,
            )
        )
    if not ops:
        return None, planned
    text = description or document.title or f"Operations of {tool}"
    return ToolSpec(tool, text, tuple(ops), category=category), planned


def _origin(tool: str, entry: Planned) -> UpstreamToolDefinition:
    """The document's own definition of a planned operation, as pinning hashes it."""
    return UpstreamToolDefinition(
        upstream=tool,
        tool=entry.operation_id,
        description=entry.upstream_description,
        input_schema=entry.input_schema,
        annotations={"method": entry.method, "path": entry.path},
    )
