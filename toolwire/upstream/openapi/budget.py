"""Keeping each tool's input schema within what a model can use: estimated tokens and slimming.

What it is: `estimate_tokens(schema)` (compact JSON length / 4, the usual rule of thumb for JSON
in current tokenizers: an estimate, not a count) and `slim(schema, budget)`, which makes an
oversized schema smaller in steps that keep it valid and keep what a model needs most, stopping as
soon as it fits:

    1. drop the descriptions of optional properties below the top level (top-level arguments
       keep theirs; so do required properties, at any depth);
    2. collapse enums longer than `MAX_ENUM` into their type, naming a few values in the
       description (the upstream still checks the value);
    3. drop every description below the top level.

The import (build.py) hides an operation that is still over budget, with the reason. What it is
not: a tokenizer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson

CHARS_PER_TOKEN = 4
MAX_ENUM = 16
DEFAULT_MAX_SCHEMA_TOKENS = 10_000


def estimate_tokens(schema: Any) -> int:
    """Roughly how many tokens `schema` costs a model, from its compact JSON size."""
    return -(-len(orjson.dumps(schema, option=orjson.OPT_NON_STR_KEYS)) // CHARS_PER_TOKEN)


def slim(schema: dict[str, Any], budget: int) -> dict[str, Any]:
    """A smaller copy of `schema` (steps above), or `schema` itself when it fits `budget`."""
    if estimate_tokens(schema) <= budget:
        return schema
    slimmed = copy.deepcopy(schema)
    for step in (_drop_optional_descriptions, _collapse_enums, _drop_deep_descriptions):
        _below_top(slimmed, step)
        if estimate_tokens(slimmed) <= budget:
            break
    return slimmed


Step = Callable[[dict[str, Any], bool], None]


def _below_top(schema: dict[str, Any], step: Step) -> None:
    """Apply `step(node, required)` to every schema below the top-level arguments."""
    top = schema.get("properties", {})
    required = set(schema.get("required", []))
    stack: list[tuple[Any, bool, bool]] = [
        (sub, name in required, False) for name, sub in top.items()
    ]
    stack.extend((sub, False, True) for sub in schema.get("$defs", {}).values())
    while stack:
        node, is_required, deep = stack.pop()
        if not isinstance(node, dict):
            if isinstance(node, list):
                stack.extend((n, is_required, True) for n in node)
            continue
        if deep:
            step(node, is_required)
        inner_required = (
            set(node.get("required", [])) if isinstance(node.get("required"), list) else set()
        )
        for key, value in node.items():
            if key in ("enum", "const", "default", "examples", "required"):
                continue
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                stack.extend((sub, name in inner_required, True) for name, sub in value.items())
            elif isinstance(value, dict | list):
                stack.append((value, False, True))


def _drop_optional_descriptions(node: dict[str, Any], required: bool) -> None:
    if not required and isinstance(node.get("description"), str):
        node.pop("description")


def _drop_deep_descriptions(node: dict[str, Any], required: bool) -> None:
    if isinstance(node.get("description"), str):
        node.pop("description")


def _collapse_enums(node: dict[str, Any], required: bool) -> None:
    values = node.get("enum")
    if not isinstance(values, list) or len(values) <= MAX_ENUM:
        return
    node.pop("enum")
    kinds = sorted({_json_type(v) for v in values})
    node.setdefault("type", kinds[0] if len(kinds) == 1 else kinds)
    sample = ", ".join(orjson.dumps(v).decode() for v in values[:5])
    note = f"One of {len(values)} values, e.g. {sample}."
    node["description"] = f"{node['description']} {note}" if node.get("description") else note


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
