"""Each format's definitions of a catalog, computed once per catalog and format, and the way back:
a name a model sends, and its arguments, to the operation and its original argument shape.

A format's view is built on first use and kept while the catalog lives (a reload makes a new
catalog, hence new views). Names come from `toolwire.core.names`, which the catalog keeps within
every vendor's rule; a name that still broke a rule would be shortened with a hash of itself,
and `by_name` maps whatever name was shown back to its operation.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolwire.core import names
from toolwire.core.catalog import Catalog, Operation
from toolwire.inbound.formats import definitions, keys
from toolwire.inbound.formats.definitions import Definition
from toolwire.inbound.formats.schema import normalise
from toolwire.inbound.formats.vendors import MCP_NAME, RULES, VENDOR_OF, Rules

FORMATS: tuple[str, ...] = tuple(VENDOR_OF)


@dataclass
class FormatView:
    """One format's definitions of one catalog, and the reverse map of its names."""

    definitions: dict[str, Definition] = field(default_factory=dict)
    """Qualified operation name -> definition."""
    by_name: dict[str, Operation] = field(default_factory=dict)
    """The name shown in this format -> operation."""
    renamed: set[str] = field(default_factory=set)
    """Operations whose argument keys were renamed for this format."""


_VIEWS: weakref.WeakKeyDictionary[Catalog, dict[str, FormatView]] = weakref.WeakKeyDictionary()


def view(catalog: Catalog, fmt: str) -> FormatView:
    """The (cached) view of `catalog` in `fmt`; `fmt` must be one of `FORMATS`."""
    views = _VIEWS.setdefault(catalog, {})
    found = views.get(fmt)
    if found is None:
        found = views[fmt] = _build(catalog, fmt)
    return found


def render(catalog: Catalog, ops: Iterable[Operation], fmt: str) -> list[Definition]:
    """The definitions of `ops` (operations of `catalog`) in `fmt`."""
    shown = view(catalog, fmt)
    out = []
    for op in ops:
        found = shown.definitions.get(op.qualified)
        out.append(found if found is not None else _one(op, fmt, shown)[0])
    return out


def inbound(catalog: Catalog, fmt: str, name: str, arguments: Any) -> tuple[str, str | None, Any]:
    """A call as a model of `fmt` sends it -> (tool, operation or None, arguments in the shape the
    operation declares). A name this format never showed is split as `names.parse` does, and
    left for the core to find or refuse."""
    shown = view(catalog, fmt)
    op = shown.by_name.get(name)
    if op is None:
        return (*names.parse(name, _names_format(fmt)), arguments)
    if op.qualified in shown.renamed and isinstance(arguments, Mapping):
        rules = RULES[VENDOR_OF[fmt]]
        arguments = keys.restore(arguments, op.input_schema, op.input_schema, rules)
    return op.tool, op.name, arguments


def _names_format(fmt: str) -> names.Format:
    vendor = VENDOR_OF[fmt]
    return vendor


def _build(catalog: Catalog, fmt: str) -> FormatView:
    shown = FormatView()
    for op in catalog:
        definition, name = _one(op, fmt, shown)
        shown.definitions[op.qualified] = definition
        shown.by_name[name] = op
    return shown


def _one(op: Operation, fmt: str, shown: FormatView) -> tuple[Definition, str]:
    vendor = VENDOR_OF[fmt]
    if vendor == "mcp":
        name = _safe_name(op.external("mcp"), MCP_NAME.fullmatch, shown)
        return {**definitions.mcp(op), "name": name}, name
    rules = RULES[vendor]
    name = _safe_name(op.external(vendor), rules.name.fullmatch, shown)
    normalised = normalise(op.input_schema, rules)
    if normalised.renamed:
        shown.renamed.add(op.qualified)
    description = definitions.describe(op, rules.description_max)
    return definitions.BUILDERS[fmt](op, name, description, normalised.schema), name


def _safe_name(name: str, allowed: Any, shown: FormatView) -> str:
    """`name` if the vendor takes it and no other operation has it; else a shortened name with a
    hash of the original, which `by_name` maps back."""
    if allowed(name) and name not in shown.by_name:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    base = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in name)
    safe = f"{base[:55]}_{digest}"
    return safe if safe[0].isalpha() else f"t{safe[1:]}"


__all__ = ["FORMATS", "FormatView", "Rules", "inbound", "render", "view"]
