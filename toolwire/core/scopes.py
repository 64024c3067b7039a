"""Key scopes: glob allow/deny patterns over tool names and categories.

A scope string is a glob matched against a qualified name (`search.web`), a tool name (`search`) or,
when written `category:NAME`, against a tool's category. A leading `!` makes it a deny. Deny wins.
`*` alone allows everything. Results are memoised per (tool, operation): keys are few and the
catalog is small, so the hot path is one dict look-up.

A grant, `destructive:PATTERN`, is not an allow: it lets a key call the operations the catalog's
policy marks `destructive: true` (docs/limits-and-policy.md) among those its allows already
permit. A key without a grant covering an operation is refused it with `POLICY_DENIED`, however
wide its allows (`*` included). Grants cannot be negated.

The grammar is an allow-list, checked when a key is created (`check_patterns`), so a pattern
that could never match is refused instead of silently denying nothing:

    scope    = ["!"] ( "*" | "category:" glob | glob [ "." glob ] ) | grant
    grant    = "destructive:" ( "*" | glob [ "." glob ] )
    glob     = 1*( letter | digit | "_" | "-" | "*" | "?" )

Names are accepted as operators see them in every format: `calc__evaluate` (OpenAI, Anthropic,
Gemini) is the same pattern as `calc.evaluate` (MCP, REST), since a tool or operation name never
contains `__`. Matching ignores case (`!Calc.*` denies `calc.evaluate`). Patterns are stored and
shown in that canonical form (`!calc.evaluate`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from toolwire.core.errors import Forbidden, InvalidRequest

EXPECTED = (
    "'*', 'tool', 'tool.operation' (or 'tool__operation'), 'category:NAME', with * and ? as "
    "wildcards, each optionally prefixed by '!' (no space) to deny; or a grant "
    "'destructive:PATTERN' (PATTERN: '*', 'tool' or 'tool.operation')"
)

GRANT_DESTRUCTIVE = "destructive:"
"""The prefix of a destructive-operation grant."""
"""The forms a scope may take, as error messages name them."""

_GLOB = r"[a-z0-9_*?-]+"
_NAME_PATTERN = re.compile(rf"^{_GLOB}(?:\.{_GLOB})?$")
_CATEGORY_PATTERN = re.compile(rf"^category:{_GLOB}$")


def canonical(raw: str) -> str:
    """The canonical form of one scope pattern; `ValueError` naming the expected forms when it
    is not one (a space, a `/`, a trailing `.`, a bracket, a third name part...)."""
    deny = raw.startswith("!")
    body = (raw[1:] if deny else raw).lower()
    if body.startswith(GRANT_DESTRUCTIVE):
        target = body[len(GRANT_DESTRUCTIVE) :].replace("__", ".")
        if deny or not (target == "*" or _NAME_PATTERN.match(target)):
            raise ValueError(f"scope {raw!r} is not a valid pattern; expected {EXPECTED}")
        return GRANT_DESTRUCTIVE + target
    if body != "*" and not _CATEGORY_PATTERN.match(body):
        body = body.replace("__", ".")
        if not _NAME_PATTERN.match(body):
            raise ValueError(f"scope {raw!r} is not a valid pattern; expected {EXPECTED}")
    return f"!{body}" if deny else body


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """Every pattern in canonical form, for a key about to be created.

    Raises `InvalidRequest` (details: the offending `scope` and the `expected` forms) for the
    first pattern that is not a string of the grammar above."""
    checked = []
    for raw in patterns:
        if not isinstance(raw, str):
            raise InvalidRequest("scopes must be strings", details={"expected": EXPECTED})
        try:
            checked.append(canonical(raw))
        except ValueError as exc:
            raise InvalidRequest(str(exc), details={"scope": raw, "expected": EXPECTED}) from None
    return checked


def within(outer: Iterable[str], inner: Iterable[str]) -> list[str]:
    """`inner` (the scopes asked for a new key) checked to be no wider than `outer` (the scopes
    of the key asking): the canonical patterns, with `outer`'s denies added.

    An allow pattern of `inner` is covered when an allow pattern of `outer` is `*`, is the same
    pattern, matches it as a literal name (`search.web` under `search.*` or `search`), or is a
    literal prefix ending in `*` that it extends (`search.w*` under `search.*`). Anything else is
    refused, even where a cleverer proof of containment exists: an allow-list, never a guess.
    Raises `InvalidRequest` for a pattern that does not parse, `Forbidden` (details: `scope`)
    for one wider than `outer`."""
    checked = check_patterns(inner)
    own = ScopeSet(outer)
    for pattern in checked:
        if not pattern.startswith("!") and not any(_covers(o, pattern) for o in own.allow):
            raise Forbidden(
                f"scope {pattern!r} is wider than the scopes of the key asking",
                details={"scope": pattern, "allowed": own.patterns},
            )
    denies = [f"!{d}" for d in own.deny if f"!{d}" not in checked]
    return [*checked, *denies]


_WILDCARDS = frozenset("*?")


def _covers(outer: str, inner: str) -> bool:
    """Whether allow pattern `outer` permits everything allow pattern `inner` permits."""
    if outer in ("*", inner):
        return True
    if inner.startswith("category:") != outer.startswith("category:"):
        return False
    if not _WILDCARDS & set(inner):
        if fnmatchcase(inner, outer):
            return True
        tool = inner.split(".", 1)[0]
        return "." not in outer and "." in inner and fnmatchcase(tool, outer)
    stem = outer[:-1]
    return outer.endswith("*") and not _WILDCARDS & set(stem) and inner.startswith(stem)


def _lenient(raw: str) -> str:
    """A stored pattern from before patterns were checked, read as its author meant it: spaces
    dropped, `/` as the separator, a trailing `.` ignored. Left as is when still not valid."""
    repaired = re.sub(r"\s+", "", raw).replace("/", ".").rstrip(".")
    try:
        return canonical(repaired)
    except ValueError:
        return raw


class ScopeSet:
    """An immutable set of allow and deny patterns with a per-operation decision cache."""

    __slots__ = ("_cache", "allow", "deny", "grants")

    def __init__(self, patterns: Iterable[str] = ("*",)) -> None:
        allow: list[str] = []
        deny: list[str] = []
        grants: list[str] = []
        for raw in patterns:
            if not raw.strip():
                continue
            pattern = _lenient(raw)
            if pattern.startswith(GRANT_DESTRUCTIVE):
                grants.append(pattern[len(GRANT_DESTRUCTIVE) :])
            elif pattern.startswith("!"):
                deny.append(pattern[1:])
            else:
                allow.append(pattern)
        self.allow: tuple[str, ...] = tuple(allow)
        self.deny: tuple[str, ...] = tuple(deny)
        self.grants: tuple[str, ...] = tuple(grants)
        """Targets of `destructive:` grants (`*`, `tool`, `tool.operation` globs)."""
        self._cache: dict[tuple[str, str, str], bool] = {}

    @property
    def patterns(self) -> list[str]:
        return [
            *self.allow,
            *(f"!{p}" for p in self.deny),
            *(GRANT_DESTRUCTIVE + g for g in self.grants),
        ]

    def grants_destructive(self, tool: str, operation: str) -> bool:
        """Whether a `destructive:` grant covers `tool.operation` (a grant alone allows
        nothing: `permits` must say yes too)."""
        subjects = (f"{tool}.{operation}".lower(), tool.lower())
        return any(fnmatchcase(s, g) for g in self.grants for s in subjects)

    def permits(self, tool: str, operation: str, category: str) -> bool:
        """Whether these scopes allow `tool.operation` (of `category`)."""
        key = (tool, operation, category)
        hit = self._cache.get(key)
        if hit is None:
            subjects = (f"{tool}.{operation}".lower(), tool.lower())
            folded = category.lower()
            hit = not _any(self.deny, subjects, folded) and _any(self.allow, subjects, folded)
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

    def grants_destructive(self, tool: str, operation: str) -> bool:
        """Granted only when both the key and the token grant it (never widening)."""
        return self.outer.grants_destructive(tool, operation) and super().grants_destructive(
            tool, operation
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
