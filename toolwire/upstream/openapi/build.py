"""From a checked OpenAPI document and a curation to tool operations over the HTTP adapter.

For each operation: path, query and header parameters (path-item and operation level, `$ref`s
resolved) and the JSON request body become one input schema. An object body's properties are
merged beside the parameters (nested under `body` when a name would clash, or when the body is not
an object); read-only properties are left out of the input. OpenAPI 3.0 schema dialect is
converted (`nullable`, boolean `exclusiveMinimum`/`Maximum`); 3.1 schemas are JSON Schema already.
Each argument remembers its location, so `LocatedRequest` can put it back on the wire.

What it is: `plan()` -> a `Planned` per operation (exposed or hidden, with the reason), shared by
`toolwire openapi inspect` and the catalog; `build_tool()` -> the `ToolSpec`. What it is not: the
loading or curation rules (`document.py`, `curation.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolwire.core.catalog import Annotations, OperationSpec, ToolSpec
from toolwire.upstream.http.adapter import HttpOperation, HttpUpstream
from toolwire.upstream.http.request import LocatedRequest, Location
from toolwire.upstream.openapi.curation import (
    Curation,
    annotations_for,
    gate,
    operation_id,
    snake_name,
)
from toolwire.upstream.openapi.document import METHODS, Document

DROP_KEYS = frozenset({"example", "examples", "xml", "externalDocs", "discriminator", "nullable"})
MAX_DESCRIPTION = 1024


class Unusable(Exception):
    """An operation the import cannot describe as a JSON Schema; the message is the reason."""


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
    title: str | None = None
    annotations: Annotations = field(default_factory=Annotations)
    input_schema: dict[str, Any] = field(default_factory=dict)
    locations: dict[str, tuple[Location, str]] = field(default_factory=dict)


def to_json_schema(schema: Any, is_31: bool, *, request: bool = True) -> Any:
    """An OpenAPI schema object as JSON Schema (2020-12 compatible)."""
    if isinstance(schema, list):
        return [to_json_schema(s, is_31, request=request) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROP_KEYS and not (is_31 and key == "examples"):
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {
                name: to_json_schema(prop, is_31, request=request)
                for name, prop in value.items()
                if not (request and isinstance(prop, Mapping) and prop.get("readOnly") is True)
            }
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in schema:
                out[key] = schema[bound]
        elif isinstance(value, Mapping | list):
            out[key] = to_json_schema(value, is_31, request=request)
        else:
            out[key] = value
    if not is_31:
        if "exclusiveMinimum" in out and out.get("minimum") == out["exclusiveMinimum"]:
            out.pop("minimum")
        if "exclusiveMaximum" in out and out.get("maximum") == out["exclusiveMaximum"]:
            out.pop("maximum")
    if schema.get("nullable") is True and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    if request and isinstance(out.get("required"), list) and "properties" in out:
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    return out


def _parameters(
    document: Document, item: Mapping[str, Any], op: Mapping[str, Any], where: str
) -> list[Any]:
    merged: dict[tuple[str, str], Any] = {}
    for level, params in (("", item.get("parameters", [])), ("op", op.get("parameters", []))):
        for i, param in enumerate(params):
            resolved = document.resolve(param, f"{where}.parameters[{i}]" if level else where)
            merged[(resolved["in"], resolved["name"])] = resolved
    return list(merged.values())


def _json_media(content: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for media, body in content.items():
        kind = media.split(";")[0].strip().lower()
        if kind == "application/json" or kind.endswith("+json"):
            return body if isinstance(body, Mapping) else {}
    return None


def _input(
    document: Document, item: Mapping[str, Any], op: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, tuple[Location, str]]]:
    props: dict[str, Any] = {}
    required: list[str] = []
    locations: dict[str, tuple[Location, str]] = {}
    for param in _parameters(document, item, op, where):
        where_in, wire = param["in"], param["name"]
        if where_in == "cookie":
            if param.get("required"):
                raise Unusable(f"required cookie parameter {wire!r} is not supported")
            continue
        if "schema" not in param:
            raise Unusable(f"parameter {wire!r} has no schema")
        arg = wire if wire not in props else f"{where_in}_{wire}"
        schema = to_json_schema(param["schema"], document.is_31)
        if param.get("description") and isinstance(schema, dict):
            schema.setdefault("description", param["description"])
        props[arg] = schema
        locations[arg] = (where_in, wire)
        if param.get("required"):
            required.append(arg)
    body = op.get("requestBody")
    if body is not None:
        body = document.resolve(body, f"{where}.requestBody")
        media = _json_media(body.get("content", {}))
        if media is None:
            kinds = ", ".join(body.get("content", {})) or "none"
            raise Unusable(f"request body has no JSON media type (has {kinds})")
        if "schema" not in media:
            raise Unusable("JSON request body has no schema")
        schema = to_json_schema(
            document.resolve(media["schema"], f"{where}.requestBody.schema"), document.is_31
        )
        body_props = schema.get("properties") if isinstance(schema, dict) else None
        flat = (
            isinstance(body_props, dict)
            and schema.get("type", "object") == "object"
            and not set(body_props) & set(props)
            and not any(k in schema for k in ("oneOf", "anyOf", "allOf", "additionalProperties"))
        )
        if flat:
            assert isinstance(body_props, dict)
            for name, prop in body_props.items():
                props[name] = prop
                locations[name] = ("body", name)
            if body.get("required"):
                required.extend(r for r in schema.get("required", []) if r in body_props)
        else:
            name = "body" if "body" not in props else "request_body"
            props[name] = schema
            locations[name] = ("body_whole", name)
            if body.get("required"):
                required.append(name)
    input_schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        input_schema["required"] = list(dict.fromkeys(required))
    input_schema["additionalProperties"] = False
    return input_schema, locations


def _description(op: Mapping[str, Any], method: str, path: str) -> str:
    parts = [str(op.get(k, "")).strip() for k in ("summary", "description")]
    text = "\n\n".join(dict.fromkeys(p for p in parts if p)) or f"{method} {path}"
    return text[:MAX_DESCRIPTION]


def plan(document: Document, curation: Curation) -> list[Planned]:
    """A decision for every operation in the document, in document order."""
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
            name = (override.name if override and override.name else None) or snake_name(op_id)
            entry = Planned(op_id, method, path, tags, name, exposed=False)
            entry.title = override.title if override else None
            entry.description = (override.description if override else None) or _description(
                op, method, path
            )
            entry.annotations = annotations_for(method, entry.title)
            reason = gate(curation, op_id, method, path, tags, bool(op.get("deprecated")))
            if reason is None:
                try:
                    entry.input_schema, entry.locations = _input(document, item, op, where)
                except Unusable as exc:
                    reason = f"no usable schema: {exc}"
            if reason is None and name in taken:
                reason = f"duplicate name {name!r} (rename it with an override)"
            entry.reason = reason or ""
            entry.exposed = reason is None
            if entry.exposed:
                taken.add(name)
            planned.append(entry)
    return planned


def build_tool(
    tool: str,
    description: str,
    category: str,
    document: Document,
    curation: Curation,
    upstream: HttpUpstream,
) -> tuple[ToolSpec | None, list[Planned]]:
    """The tool of the exposed operations (None when nothing is exposed), and the whole plan."""
    planned = plan(document, curation)
    ops: list[OperationSpec] = []
    for entry in planned:
        if not entry.exposed:
            continue
        adapter = HttpOperation(
            upstream, LocatedRequest(entry.method, entry.path, dict(entry.locations))
        )
        ops.append(
            OperationSpec(
                name=entry.name,
                description=entry.description,
                input_schema=entry.input_schema,
                adapter=adapter,
                annotations=entry.annotations,
                title=entry.title,
                credentials=upstream.credentials,
            )
        )
    if not ops:
        return None, planned
    text = description or document.title or f"Operations of {tool}"
    return ToolSpec(tool, text, tuple(ops), category=category), planned
