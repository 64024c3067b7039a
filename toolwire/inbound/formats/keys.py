"""Property keys a vendor refuses, renamed reversibly, and arguments mapped back.

A key that matches the vendor's rule is kept. Any other key becomes its allowed characters, `_`
for the rest, cut to fit, then `_` and six hex digits of its SHA-256: the renamed key depends on
the original key alone (`filter[status]` -> `filter_status__ff36da`), so the same function maps
definitions out and arguments back, with no table to keep in step.

Arguments come back in the vendor's spelling; `restore()` walks them beside the operation's
original schema and puts each renamed key back where that schema names it (following `$ref`s and
`anyOf`/`oneOf`/`allOf` members). Keys a schema does not name, such as those of a free-form
object, are left as they are. What is not here: deciding which tool a name means (`render`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from toolwire.inbound.formats.vendors import MAX_DEPTH, Rules

HASH_LEN = 6
FAMILY_MAX = 256
"""At most this many schemas stand for one value (its `$ref` target and combinator members)."""
KEY_MAX = 64


def safe_key(key: str, rules: Rules) -> str:
    """`key` as `rules` accept it: unchanged when it already is."""
    if rules.key is None or rules.key.fullmatch(key):
        return key
    base = rules.key_invalid.sub("_", key)
    if rules.key_start is not None and not rules.key_start.match(base):
        base = f"_{base}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:HASH_LEN]
    return f"{base[: KEY_MAX - HASH_LEN - 1]}_{digest}"


def resolve(root: Mapping[str, Any], ref: Any) -> Any:
    """The schema a local `$ref` (`#`, `#/a/b`, JSON-pointer escaped) points to; None if none."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _family(root: Mapping[str, Any], schema: Any) -> Iterator[Mapping[str, Any]]:
    """`schema` and every schema it also stands for: its `$ref` target and combinator members,
    each once (a cycle or a fan-out of references is walked in linear time)."""
    seen: set[int] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping) or id(node) in seen or len(seen) > FAMILY_MAX:
            continue
        seen.add(id(node))
        yield node
        if "$ref" in node:
            stack.append(resolve(root, node["$ref"]))
        for word in ("allOf", "oneOf", "anyOf"):
            members = node.get(word)
            if isinstance(members, list):
                stack.extend(reversed(members))


def restore(value: Any, schema: Any, root: Mapping[str, Any], rules: Rules, depth: int = 0) -> Any:
    """`value`, sent by a model in the vendor's spelling, with original property keys."""
    if depth > MAX_DEPTH or rules.key is None:
        return value
    family = list(_family(root, schema))
    if isinstance(value, Mapping):
        props: dict[str, Any] = {}
        extra: list[Any] = []
        for member in family:
            member_props = member.get("properties")
            if isinstance(member_props, Mapping):
                for key, sub in member_props.items():
                    props.setdefault(key, sub)
            if "additionalProperties" in member:
                extra.append(member["additionalProperties"])
        back = {safe_key(k, rules): k for k in props}
        out: dict[str, Any] = {}
        for key, item in value.items():
            key = str(key)
            original: str = key if key in props else back.get(key, key)
            sub = props.get(original, extra[0] if extra else None)
            out[original] = restore(item, sub, root, rules, depth + 1)
        return out
    if isinstance(value, list):
        items: Any = None
        prefix: list[Any] = []
        for member in family:
            tuple_items = member.get("prefixItems", member.get("items"))
            if isinstance(tuple_items, list) and not prefix:
                prefix = tuple_items
            if isinstance(member.get("items"), Mapping) and items is None:
                items = member["items"]
        return [
            restore(item, prefix[i] if i < len(prefix) else items, root, rules, depth + 1)
            for i, item in enumerate(value)
        ]
    return value
