"""Virtual servers: named subsets of the catalog, served at `/mcp/<name>` and listed over REST
with `?server=<name>`; a key may be limited to some of them (`Principal.servers`).

A server is an allow-list of globs over qualified operation names (`calc.evaluate`, `docs.*`)
and tool names (`calc`), matched without regard to case, like scopes. The core enforces it in
`Gateway.authorize`, so every door obeys it. Decisions: docs/design/pinning.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from toolwire.core.errors import InvalidRequest

if TYPE_CHECKING:
    from toolwire.core.catalog import Operation

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
"""A virtual server's name: lowercase, as it appears in a URL path."""


@dataclass(frozen=True, slots=True)
class VirtualServer:
    """A named allow-list of operations: `tools` are globs over `tool.operation` or `tool`."""

    name: str
    tools: tuple[str, ...]
    description: str = ""
    _cache: dict[tuple[str, str], bool] = field(default_factory=dict, compare=False, repr=False)

    def contains(self, op: Operation) -> bool:
        key = (op.tool, op.name)
        hit = self._cache.get(key)
        if hit is None:
            subjects = (f"{op.tool}.{op.name}".lower(), op.tool.lower())
            hit = any(fnmatchcase(s, p.lower()) for p in self.tools for s in subjects)
            self._cache[key] = hit
        return hit


def check_server_names(
    names: Iterable[str] | None, known: Iterable[str] | None
) -> list[str] | None:
    """A key's server limits as given (None: not limited), each a valid name and, when `known`
    is given, one of them. Raises `InvalidRequest`."""
    if names is None:
        return None
    if isinstance(names, str):
        raise InvalidRequest("servers must be a list of virtual server names")
    checked = []
    known_set = None if known is None else set(known)
    for name in names:
        if not isinstance(name, str) or not NAME.match(name):
            raise InvalidRequest(
                f"{name!r} is not a virtual server name (lowercase letters, digits, _ and -)",
                details={"server": name},
            )
        if known_set is not None and name not in known_set:
            raise InvalidRequest(
                f"no virtual server named {name!r}",
                details={"server": name, "servers": sorted(known_set)},
            )
        checked.append(name)
    return sorted(set(checked))
