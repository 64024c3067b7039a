"""An input schema rebuilt from only the keywords a vendor accepts (an allow-list).

`normalise(schema, rules)` walks a JSON Schema and builds a new one: each keyword the vendor
lists is copied (with its sub-schemas rebuilt), a few are translated, and the rest are dropped.
Dropping or translating only ever loosens what the schema says, and the core still validates
every call against the operation's original schema, so a looser vendor schema never lets a wrong
call through; a constraint the vendor cannot state is written into the description instead.

Translations: `oneOf` -> `anyOf`; `const` -> a one-value `enum`; `allOf` merged where the vendor
has none; tuples (`prefixItems`, array `items`) -> `items` of the members; `patternProperties` ->
`additionalProperties`; `true` -> `{}` and a `false` property dropped; an array gets `items: {}`
(any item, which is what a missing `items` means); an over-long `enum` -> its type and examples.
`$ref`s into `$defs`/`definitions` stay (as `#/$defs/...`) where the vendor takes them, and the
target of any other local `$ref` (`#`, `#/components/...`) is hoisted into `$defs`, so shared and
recursive definitions stay linear in size. A `$ref` with sibling constraints (or for a vendor
without `$defs`) is inlined, at most `REF_INLINE_DEPTH` times per reference (ending cycles) and
`INLINE_BUDGET` nodes per schema. The root becomes
a plain object: `anyOf`/`oneOf`/`allOf` members there are merged into its properties, and the
choice they expressed is stated in the description. Property keys the vendor refuses are renamed
by `keys.safe_key`, which `keys.restore` reverses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from toolwire.inbound.formats.keys import resolve, safe_key
from toolwire.inbound.formats.vendors import (
    ENUM_MAX,
    INLINE_BUDGET,
    MAX_DEPTH,
    REF_INLINE_DEPTH,
    Rules,
)

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
NUMBER_WORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
COUNT_WORDS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
CONSTRAINT_WORDS = frozenset({*NUMBER_WORDS, *COUNT_WORDS, "pattern"})
ROOT_CHOICES = ("allOf", "anyOf", "oneOf")
NOTE_MAX = 80
JSON_INT_MAX = 2**53
"""Integers past this (e.g. OpenAPI's `minimum: -9223372036854776000`) are sent as floats: JSON
encoders and vendors parse them as doubles anyway, and some encoders refuse them outright."""
Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Normalised:
    schema: Schema
    renamed: bool
    """Some property key was renamed: arguments must go through `keys.restore`."""


def normalise(schema: Mapping[str, Any], rules: Rules) -> Normalised:
    """`schema` (an operation's input schema, an object) as `rules` accept it."""
    builder = _Builder(schema, rules)
    return Normalised(builder.root(), builder.renamed)


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _fits(word: str, value: Any) -> bool:
    """A constraint keyword's value has the type JSON Schema gives it (draft-4 booleans do not)."""
    if isinstance(value, bool):
        return False
    if word == "pattern":
        return isinstance(value, str)
    if word in COUNT_WORDS:
        return isinstance(value, int) and value >= 0
    return isinstance(value, int | float)


def _note(word: str, value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return f"{word}: {text[:NOTE_MAX]}"


class _Builder:
    def __init__(self, source: Mapping[str, Any], rules: Rules) -> None:
        self.source = source
        self.rules = rules
        self.renamed = False
        self.built = 0
        self.inlining: list[str] = []
        self.defs: dict[str, str] = {}
        """`#/$defs/X` or `#/definitions/X` -> its name under the output's `$defs`."""
        for section in ("$defs", "definitions"):
            table = source.get(section)
            if isinstance(table, Mapping):
                for name in table:
                    new = str(name)
                    while new in self.defs.values():
                        new = f"{new}_"
                    self.defs[f"#/{section}/{_escape(str(name))}"] = new

    def root(self) -> Schema:
        out = self.node(self._flatten_root(), 0) or {}
        for word in ("anyOf", "allOf", "enum", "const"):
            out.pop(word, None)
        out["type"] = "object"
        out.setdefault("properties", {})
        if self.rules.refs and self.defs:
            built: Schema = {}
            while len(built) < len(self.defs):  # building one may hoist another
                for pointer, name in list(self.defs.items()):
                    if name not in built:
                        built[name] = self.node(resolve(self.source, pointer), 1) or {}
            out["$defs"] = built
        return out

    def _hoist(self, ref: str) -> str:
        """A `$defs` name for the schema a local `$ref` outside `$defs` points to."""
        base = "root" if ref == "#" else re.sub(r"[^A-Za-z0-9_.-]+", "_", ref[2:]).strip("_")
        name = base or "ref"
        while name in self.defs.values():
            name = f"{name}_"
        self.defs[ref] = name
        return name

    def _flatten_root(self) -> Schema:
        """The root with its `allOf`/`anyOf`/`oneOf` members (and a root `$ref`) merged in."""
        src = self.source
        out: Schema = {
            k: v
            for k, v in src.items()
            if k not in ("$defs", "definitions", "$ref", "not", "if", "then", "else")
            and k not in ROOT_CHOICES
        }
        props = dict(src.get("properties") or {})
        required = [r for r in src.get("required") or [] if isinstance(r, str)]
        forms: dict[str, list[str]] = {"anyOf": [], "oneOf": []}
        members = [("allOf", src["$ref"])] if isinstance(src.get("$ref"), str) else []
        for word in ROOT_CHOICES:
            listed = src.get(word)
            members += [(word, m) for m in listed] if isinstance(listed, list) else []
        for word, member in members:
            for _ in range(REF_INLINE_DEPTH):
                if isinstance(member, Mapping) and isinstance(member.get("$ref"), str):
                    member = resolve(src, member["$ref"])
            if not isinstance(member, Mapping):
                continue
            member_props = member.get("properties")
            member_props = member_props if isinstance(member_props, Mapping) else {}
            for key, sub in member_props.items():
                props.setdefault(key, sub)
            member_required = [r for r in member.get("required") or [] if isinstance(r, str)]
            if word == "allOf":
                required += member_required
            else:
                names = member_required or list(member_props)
                shown = ", ".join(safe_key(n, self.rules) for n in names) or "no arguments"
                forms[word].append(f"({shown})")
        out["properties"] = props
        out["required"] = list(dict.fromkeys(required))
        notes = []
        if forms["oneOf"]:
            notes.append(
                "Give exactly one of these sets of arguments: " + " | ".join(forms["oneOf"])
            )
        if forms["anyOf"]:
            notes.append(
                "Give at least one of these sets of arguments: " + " | ".join(forms["anyOf"])
            )
        if notes:
            text = str(src.get("description") or "")
            out["description"] = "\n".join(([text] if text else []) + notes)
        return out

    def node(self, schema: Any, depth: int) -> Schema | None:
        """`schema` rebuilt; None for `false` (no value allowed)."""
        if schema is False:
            return None
        if not isinstance(schema, Mapping):
            return {}
        self.built += 1 if self.inlining else 0
        if depth > MAX_DEPTH:
            return {"description": "(nested too deeply to describe here)"}
        if isinstance(schema.get("$ref"), str):
            return self._ref(schema, depth)
        out: Schema = {}
        notes: list[str] = []
        types = self._types(schema.get("type"))
        if types:
            out["type"] = types[0] if len(types) == 1 else types
        self._choices(schema, out, depth)
        self._values(schema, out, notes)
        self._object(schema, out, notes, depth)
        self._array(schema, out, notes, types, depth)
        self._scalars(schema, out, notes)
        if self.rules.object_properties and "object" in types:
            out.setdefault("properties", {})
        description = schema.get("description")
        text = description if isinstance(description, str) else ""
        if notes:
            text = f"{text} ({'; '.join(notes)})" if text else f"({'; '.join(notes)})"
        if text:
            out["description"] = text
        return out

    def _types(self, value: Any) -> list[str]:
        listed = value if isinstance(value, list) else [value]
        return list(dict.fromkeys(t for t in listed if t in JSON_TYPES))

    def _ref(self, schema: Mapping[str, Any], depth: int) -> Schema | None:
        ref = schema["$ref"]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        target = resolve(self.source, ref)
        if self.rules.refs and target is not None and set(siblings) <= {"description", "title"}:
            name = self.defs.get(ref) or self._hoist(ref)
            pointer: Schema = {"$ref": f"#/$defs/{_escape(name)}"}
            text = siblings.get("description")
            if isinstance(text, str) and text:
                return {"anyOf": [pointer], "description": text}
            return pointer
        spent = self.built > INLINE_BUDGET
        if spent or self.inlining.count(ref) >= REF_INLINE_DEPTH or target is None:
            what = "the same shape as its parent" if target is not None else "any value"
            out: Schema = {"description": f"({what})"}
            if isinstance(siblings.get("description"), str):
                out["description"] = f"{siblings['description']} {out['description']}"
            return out
        if target is False:
            return None
        merged = {**target, **siblings} if isinstance(target, Mapping) else siblings
        self.inlining.append(ref)
        try:
            return self.node(merged, depth + 1)
        finally:
            self.inlining.pop()

    def _choices(self, schema: Mapping[str, Any], out: Schema, depth: int) -> None:
        for word in ("anyOf", "oneOf"):
            members = schema.get(word)
            if isinstance(members, list):
                built = [b for m in members if (b := self.node(m, depth + 1)) is not None]
                if built:
                    out.setdefault("anyOf", []).extend(built)
        members = schema.get("allOf")
        if not isinstance(members, list):
            return
        built = [b for m in members if (b := self.node(m, depth + 1)) is not None]
        if "allOf" in self.rules.keywords:
            if built:
                out["allOf"] = built
            return
        for member in built:
            for key, value in member.items():
                if key == "properties":
                    out.setdefault("properties", {}).update(value)
                elif key == "required":
                    out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
                else:
                    out.setdefault(key, value)

    def _values(self, schema: Mapping[str, Any], out: Schema, notes: list[str]) -> None:
        if "const" in schema:
            if "const" in self.rules.keywords:
                out["const"] = schema["const"]
            else:
                self._enum([schema["const"]], out, notes)
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            self._enum(schema["enum"], out, notes)

    def _enum(self, values: list[Any], out: Schema, notes: list[str]) -> None:
        """An `enum` the vendor can state, or none (any value) and the values in a note."""
        scalar = all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        if len(values) > ENUM_MAX:
            examples = orjson.dumps(values[:5]).decode()[:NOTE_MAX]
            notes.append(f"one of {len(values)} values, such as {examples}")
        elif self.rules.enum_scalars_only and not scalar:
            notes.append(_note("one of", values))
        else:
            out["enum"] = values

    def _object(self, schema: Mapping[str, Any], out: Schema, notes: list[str], depth: int) -> None:
        props = schema.get("properties")
        if isinstance(props, Mapping):
            built: Schema = {}
            for key, sub in props.items():
                value = self.node(sub, depth + 1)
                if value is not None:
                    built[self._key(str(key))] = value
            out.setdefault("properties", {}).update(built)
            listed = schema.get("required")
            listed = listed if isinstance(listed, list) else []
            required = [r for r in listed if isinstance(r, str) and r in props]
            if required:
                keys = [self._key(r) for r in required]
                out["required"] = list(dict.fromkeys([*out.get("required", []), *keys]))
        extra: list[Schema] = []
        patterns = schema.get("patternProperties")
        if isinstance(patterns, Mapping) and patterns:
            extra = [b for p in patterns.values() if (b := self.node(p, depth + 1)) is not None]
            notes.append(_note("other keys match", list(patterns)))
        more = schema.get("additionalProperties")
        built_more = self.node(more, depth + 1) if isinstance(more, Mapping) else None
        if built_more is not None:
            extra.append(built_more)
        if extra:
            out["additionalProperties"] = extra[0] if len(extra) == 1 else {"anyOf": extra}
        elif isinstance(more, bool) and not (more is False and patterns):
            out["additionalProperties"] = more

    def _key(self, key: str) -> str:
        safe = safe_key(key, self.rules)
        self.renamed = self.renamed or safe != key
        return safe

    def _array(
        self,
        schema: Mapping[str, Any],
        out: Schema,
        notes: list[str],
        types: list[str],
        depth: int,
    ) -> None:
        items = schema.get("items")
        tuple_items = schema.get("prefixItems", items if isinstance(items, list) else None)
        if isinstance(tuple_items, list):
            built = [b for m in tuple_items if (b := self.node(m, depth + 1)) is not None]
            if built:
                out["items"] = built[0] if len(built) == 1 else {"anyOf": built}
                notes.append(f"a tuple of {len(built)} items in this order")
        elif items is not None and items is not False:
            out["items"] = self.node(items, depth + 1) or {}
        if "array" in types or "items" in out:
            out.setdefault("items", {})

    def _scalars(self, schema: Mapping[str, Any], out: Schema, notes: list[str]) -> None:
        allowed = self.rules.keywords
        for word in [w for w in schema if w in CONSTRAINT_WORDS]:
            value = schema[word]
            if _fits(word, value):
                if isinstance(value, int) and abs(value) > JSON_INT_MAX:
                    value = float(value)
                if word in allowed:
                    out[word] = value
                else:
                    notes.append(_note(word, value))
        if schema.get("uniqueItems") is True:
            if "uniqueItems" in allowed:
                out["uniqueItems"] = True
            else:
                notes.append("items unique")
        fmt = schema.get("format")
        if isinstance(fmt, str):
            if "format" in allowed and fmt in self.rules.formats:
                out["format"] = fmt
            else:
                notes.append(_note("format", fmt))
        if isinstance(schema.get("title"), str) and "title" in allowed:
            out["title"] = schema["title"]
        if "default" in schema:
            if "default" in allowed:
                out["default"] = schema["default"]
            else:
                notes.append(_note("default", schema["default"]))
