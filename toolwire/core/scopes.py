"""Key scopes: glob allow/deny patterns over tool names and categories.

A scope string is a glob matched against a qualified name (`search.web`), a tool name (`search`) or,
when written `category:NAME`, against a tool's category. A leading `!` makes it a deny. Deny wins.
`*` alone allows everything. Results are memoised per (tool, operation): keys are few and the
catalog is small, so the hot path is one dict look-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase


class ScopeSet:
    """An immutable set of allow and deny patterns with a per-operation decision cache."""

    __slots__ = ("_cache", "allow", "deny")

    def __init__(self, patterns: Iterable[str] = ("*",)) -> None:
        allow: list[str] = []
        deny: list[str] = []
        for raw in patterns:
            pattern = raw.strip()
            if not pattern:
                continue
            if pattern.startswith("!"):
                deny.append(pattern[1:])
            else:
                allow.append(pattern)
        self.allow: tuple[str, ...] = tuple(allow)
        self.deny: tuple[str, ...] = tuple(deny)
        self._cache: dict[tuple[str, str, str], bool] = {}

    @property
    def patterns(self) -> list[str]:
        return [*self.allow, *(f"!{p}" for p in self.deny)]

    def permits(self, tool: str, operation: str, category: str) -> bool:
        """Whether these scopes allow `tool.operation` (of `category`)."""
        key = (tool, operation, category)
        hit = self._cache.get(key)
        if hit is None:
            subjects = (f"{tool}.{operation}", tool)
            hit = not _any(self.deny, subjects, category) and _any(self.allow, subjects, category)
            self._cache[key] = hit
        return hit

    def narrowed(self, patterns: Iterable[str]) -> ScopeSet:
        """The intersection of these scopes and `patterns`: permits only what both permit (an
        OAuth token's scopes narrowing its key's, never widening them)."""
        return NarrowedScopes(self, patterns)

    def __repr__(self) -> str:
        return f"ScopeSet({self.patterns!r})"


class NarrowedScopes(ScopeSet):
    """`outer` intersected with further patterns. `patterns` shows the outer (key's) scopes."""

    __slots__ = ("outer",)

    def __init__(self, outer: ScopeSet, patterns: Iterable[str]) -> None:
        super().__init__(patterns)
        self.outer = outer

    @property
    def patterns(self) -> list[str]:
        return self.outer.patterns

    def permits(self, tool: str, operation: str, category: str) -> bool:
        return self.outer.permits(tool, operation, category) and super().permits(
            tool, operation, category
        )

    def __repr__(self) -> str:
        return f"NarrowedScopes({self.outer!r}, {[*self.allow, *(f'!{p}' for p in self.deny)]!r})"


def _any(patterns: tuple[str, ...], subjects: tuple[str, str], category: str) -> bool:
    for pattern in patterns:
        if pattern.startswith("category:"):
            if fnmatchcase(category, pattern[len("category:") :]):
                return True
        elif any(fnmatchcase(subject, pattern) for subject in subjects):
            return True
    return False
