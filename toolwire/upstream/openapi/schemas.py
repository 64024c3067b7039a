"""OpenAPI schema objects as JSON Schema, with every referenced schema kept once under `$defs`.

What it is: `SchemaSet(document)`, shared by every operation of one document. `convert(node)`
returns JSON Schema (2020-12) in which a local `$ref` (``#/components/schemas/Pet``) becomes
``{"$ref": "#/$defs/Pet"}``; each referenced schema is converted once, whatever the number of
operations or paths that reach it, so chains and cycles of references cost time and memory linear
in the document (issue 9 item 11: the inlining this replaces was exponential in the chain length).
`defs_for(schema)` is the `$defs` an input schema needs: the referenced definitions, transitively.
A schema larger than `max_nodes` after conversion raises `Unusable` (the operation is then hidden
with the reason), so no document can make one operation unbounded.

Conversion (OpenAPI 3.0 §4.7.24, 3.1 §4.8.24): only schema keywords are walked; data keywords
(`enum`, `const`, `default`, ...) are copied untouched. 3.0's `nullable` and boolean
`exclusiveMinimum`/`Maximum` become 2020-12 forms; `example`, `xml`, `externalDocs` and
`discriminator` are dropped; in request schemas `readOnly` properties are left out. 3.1 allows
siblings beside `$ref`; they are kept as ``{"allOf": [{"$ref": ...}], ...siblings}`` (the same
meaning, and one draft-07 validators understand); 3.0 ignores them, and so does this.

What it is not: the resolution of parameter and request-body objects (`Document.deref`) or the
input schema's assembly (`build.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from toolwire.upstream.openapi.document import Document

MAX_SCHEMA_NODES = 100_000
"""Nodes (objects, arrays, scalars) one operation's input schema may hold, `$defs` included."""

DROP_KEYS = frozenset({"example", "xml", "externalDocs", "discriminator", "nullable"})
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
SCHEMA_MAPS |= {"dependentSchemas"}
SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contentSchema",
    }
)
_DEF_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class Unusable(Exception):
    """An operation the import cannot describe as a JSON Schema; the message is the reason."""


class SchemaSet:
    """The converted schemas of one document: `$defs` shared by all its operations."""

    def __init__(self, document: Document, *, max_nodes: int = MAX_SCHEMA_NODES) -> None:
        self.document = document
        self.max_nodes = max_nodes
        self.defs: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._uses: dict[str, frozenset[str]] = {}
        self._sizes: dict[str, int] = {}

    def convert(self, node: Any, *, where: str = "") -> Any:
        """`node` (an OpenAPI schema object) as JSON Schema, refs pointing into `#/$defs`."""
        return self._schema(node, where)

    def defs_for(self, schema: Any) -> dict[str, Any]:
        """The `$defs` `schema` reaches, transitively, in a stable order. `Unusable` when the
        schema and its definitions together exceed `max_nodes`."""
        seen: dict[str, None] = {}
        stack = sorted(_refs_in(schema), reverse=True)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen[name] = None
            stack.extend(sorted(self._uses[name] - set(seen), reverse=True))
        size = count_nodes(schema) + sum(self._sizes[n] for n in seen)
        if size > self.max_nodes:
            raise Unusable(f"its schema has {size} nodes, over the limit of {self.max_nodes}")
        return {name: self.defs[name] for name in seen}

    def _def(self, ref: str, where: str) -> str:
        name = self._names.get(ref)
        if name is not None:
            return name
        name = self._new_name(ref)
        self._names[ref] = name
        self.defs[name] = {}  # placeholder: a cycle back to `ref` finds the name
        converted = self._schema(self.document.lookup(ref, where), ref)
        self.defs[name] = converted
        self._uses[name] = frozenset(_refs_in(converted))
        self._sizes[name] = count_nodes(converted)
        return name

    def _new_name(self, ref: str) -> str:
        tail = ref.removeprefix("#/components/schemas/") if ref.count("/") == 3 else ref[2:]
        base = _DEF_NAME.sub("_", tail.replace("~1", "/").replace("~0", "~")).strip("_") or "def"
        name, n = base, 1
        while name in self.defs:
            n += 1
            name = f"{base}_{n}"
        return name

    def _schema(self, node: Any, where: str) -> Any:
        if not isinstance(node, Mapping):
            return node  # true/false schemas (3.1), or data the document put where a schema goes
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = {"$ref": f"#/$defs/{self._def(ref, f'{where}.$ref')}"}
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if not siblings or not self.document.is_31:
                return target
            rest = self._schema(siblings, where)
            return {"allOf": [target], **rest} if rest else target
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in DROP_KEYS or (key == "examples" and not self.document.is_31):
                continue
            if key in SCHEMA_MAPS and isinstance(value, Mapping):
                out[key] = {
                    name: self._schema(sub, f"{where}.{key}.{name}")
                    for name, sub in value.items()
                    if not (key == "properties" and _read_only(sub))
                }
            elif key in SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self._schema(s, f"{where}.{key}[{i}]") for i, s in enumerate(value)]
            elif key in SCHEMA_ONE:
                out[key] = (
                    [self._schema(s, f"{where}.{key}[{i}]") for i, s in enumerate(value)]
                    if isinstance(value, list)
                    else self._schema(value, f"{where}.{key}")
                )
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value and bound in node:
                    out[key] = node[bound]
            else:
                out[key] = value
        if not self.document.is_31:
            for exclusive, bound in (
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ):
                if exclusive in out and out.get(bound) == out[exclusive]:
                    out.pop(bound)
        if node.get("nullable") is True and "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
            out["required"] = [r for r in out["required"] if r in out["properties"]]
        return out


def _read_only(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("readOnly") is True


def _refs_in(schema: Any) -> set[str]:
    """The `$defs` names a converted schema refers to directly."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                found.add(ref.removeprefix("#/$defs/"))
            stack.extend(v for k, v in node.items() if k not in ("enum", "const", "default"))
        elif isinstance(node, list):
            stack.extend(node)
    return found


def count_nodes(value: Any) -> int:
    """Objects, arrays and scalars in a JSON value (iteratively: depth costs no stack)."""
    count = 0
    stack = [value]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count
