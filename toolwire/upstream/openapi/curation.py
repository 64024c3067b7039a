"""Curation of an OpenAPI import: which operations become tools, under which names, and why not.

Every operation of the document gets a `Decision`: exposed, or hidden with a reason a person can
act on. The order of the checks is the order of the reasons:

    1 excluded         it matches an `exclude` rule
    2 not included     `include` rules are given and it matches none
    3 deprecated       deprecated in the document (unless `include_deprecated`)
    4 changes state    POST/PUT/PATCH/DELETE/... unless the method is in `allow_methods` or the
                       operation's override says `expose: true`
    5 no usable schema a parameter or body the import cannot turn into a JSON Schema (see build.py)
    6 duplicate name   two operations would get the same tool operation name

A rule matches when each criterion it gives matches (tags: any tag; operations: an operationId
glob; paths: a path glob; methods: a method). What it is not: the schema building (`build.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from toolwire.core.catalog import Annotations

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Rule:
    tags: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def matches(self, operation_id: str, method: str, path: str, tags: tuple[str, ...]) -> bool:
        checks = (
            not self.tags or any(t in tags for t in self.tags),
            not self.operations or any(fnmatchcase(operation_id, g) for g in self.operations),
            not self.paths or any(fnmatchcase(path, g) for g in self.paths),
            not self.methods or method in {m.upper() for m in self.methods},
        )
        return all(checks)


@dataclass(frozen=True)
class Override:
    """Per-operation changes, keyed by operationId: what a model should see."""

    name: str | None = None
    description: str | None = None
    title: str | None = None
    expose: bool | None = None
    """True exposes a state-changing operation; False hides any operation."""


@dataclass(frozen=True)
class Curation:
    include: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()
    allow_methods: frozenset[str] = frozenset()
    include_deprecated: bool = False
    overrides: Mapping[str, Override] = field(default_factory=dict)


def annotations_for(method: str, title: str | None = None) -> Annotations:
    """MCP hints from the HTTP method's semantics (RFC 9110): hints, never trusted."""
    safe = method in SAFE_METHODS
    return Annotations(
        title,
        read_only=safe,
        destructive=method in ("DELETE", "PUT", "PATCH"),
        idempotent=safe or method in ("DELETE", "PUT"),
        open_world=True,
    )


def operation_id(method: str, path: str, declared: object) -> str:
    if isinstance(declared, str) and declared:
        return declared
    return f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', path)}".rstrip("_")


def snake_name(text: str, limit: int = 30) -> str:
    """A valid operation name (letters, digits, single `_`/`-`, at most 30) from an operationId."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    name = re.sub(r"[^A-Za-z0-9]+", "_", spaced).strip("_").lower()
    name = re.sub(r"_+", "_", name)
    if not name or not name[0].isalpha():
        name = f"op_{name}"
    return name[:limit].rstrip("_-")


def gate(
    curation: Curation,
    operation_id: str,
    method: str,
    path: str,
    tags: tuple[str, ...],
    deprecated: bool,
) -> str | None:
    """The reason an operation is hidden by curation (steps 1-4), or None."""
    override = curation.overrides.get(operation_id, Override())
    if override.expose is False:
        return "hidden by its override (expose: false)"
    if any(r.matches(operation_id, method, path, tags) for r in curation.exclude):
        return "excluded by an exclude rule"
    if curation.include and not any(
        r.matches(operation_id, method, path, tags) for r in curation.include
    ):
        return "not matched by any include rule"
    if deprecated and not curation.include_deprecated:
        return "deprecated (set include_deprecated: true to expose)"
    allowed = {m.upper() for m in curation.allow_methods}
    if method not in SAFE_METHODS and method not in allowed and override.expose is not True:
        return f"{method} changes state (allow it with allow_methods: [{method}])"
    return None
