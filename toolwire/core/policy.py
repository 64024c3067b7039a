"""Policy declared in the catalog (`policy:` section), checked in the call path and explained.

Per tool (`tool`) or operation (`tool.operation`, which wins over its tool's entry):

    destructive: true         the key needs a `destructive:` grant covering it (core/scopes.py)
    arguments:                constraints beyond the input schema, by argument path (`a.b`)
      NAME:
        domains: [GLOB, ...]  a URL (http/https, no userinfo) whose host matches one glob
        min: NUMBER           a number at least this
        max: NUMBER           a number at most this (e.g. maximum rows)
        max_items: INT        an array of at most this many items
        one_of: [VALUE, ...]  one of these values
        pattern: REGEX        a string (or each string of an array) matching it entirely
        forbid: [REGEX, ...]  a string (or each string of an array) matching none of them
    max_result_bytes: INT     the result is cut to fit (a capped result says so in its meta)

An argument a constraint names but the call does not carry is left to the schema (absent is
not checked); a value of the wrong kind for its constraint (`max` on a string) is refused: the
language only lets through what it can judge. Every refusal is `PolicyDenied` with
`details.rule` naming the rule, e.g. `policy.fetch.arguments.url.domains`.

The operator declares what is destructive; an upstream's `destructiveHint` is a hint for
clients and never changes who may call (docs/design/limits.md).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from toolwire.core.content import TextBlock, ToolResult
from toolwire.core.errors import PolicyDenied

if TYPE_CHECKING:
    from toolwire.core.catalog import Operation
    from toolwire.core.model import Principal

_NETLOC = re.compile(r"^[a-z0-9.-]+(?::[0-9]{1,5})?$")
"""What a URL's authority may be under a `domains` rule: a host name, an optional port; no
userinfo, no brackets, no escapes (an allow-list: what a parser might read two ways is refused)."""

MAX_RESULT_BYTES = 64 * 1024 * 1024
"""The largest `max_result_bytes` a catalog may set."""


@dataclass(frozen=True, slots=True)
class Constraint:
    """The rules on one argument (by path), compiled."""

    path: tuple[str, ...]
    rule: str
    """`policy.<entry>.arguments.<path>`: the prefix of the rule names it refuses with."""
    domains: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    max_items: int | None = None
    one_of: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    forbid: tuple[re.Pattern[str], ...] = ()

    def check(self, arguments: Mapping[str, Any]) -> None:
        """Raise `PolicyDenied` when the argument is present and breaks a rule."""
        value: Any = arguments
        for part in self.path:
            if not isinstance(value, Mapping) or part not in value:
                return
            value = value[part]
        if self.one_of is not None and value not in self.one_of:
            self._deny("one_of", "is not one of the allowed values")
        if self.min is not None or self.max is not None:
            self._check_range(value)
        if self.max_items is not None:
            if not isinstance(value, list):
                self._deny("max_items", "must be an array")
            if len(value) > self.max_items:
                self._deny("max_items", f"has more than {self.max_items} items")
        strings = self._strings(value)
        if self.domains is not None:
            for text in strings("domains"):
                if not self._host_allowed(text):
                    self._deny("domains", "is not a URL on an allowed domain")
        if self.pattern is not None:
            for text in strings("pattern"):
                if not self.pattern.fullmatch(text):
                    self._deny("pattern", "does not match the allowed pattern")
        for forbidden in self.forbid:
            for text in strings("forbid"):
                if forbidden.search(text):
                    self._deny("forbid", "matches a forbidden pattern")

    def _check_range(self, value: Any) -> None:
        kind = "min" if self.min is not None else "max"
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._deny(kind, "must be a number")
        if self.min is not None and value < self.min:
            self._deny("min", f"must be at least {self.min:g}")
        if self.max is not None and value > self.max:
            self._deny("max", f"must be at most {self.max:g}")

    def _strings(self, value: Any) -> Any:
        def strings(kind: str) -> list[str]:
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(item, str) for item in items):
                self._deny(kind, "must be a string or an array of strings")
            return list(items)

        return strings

    def _host_allowed(self, text: str) -> bool:
        try:
            parts = urlsplit(text)
        except ValueError:
            return False
        netloc = parts.netloc.lower()
        if parts.scheme.lower() not in ("http", "https") or not _NETLOC.match(netloc):
            return False
        host = netloc.partition(":")[0].rstrip(".")
        return any(fnmatchcase(host, glob) for glob in self.domains or ())

    def _deny(self, kind: str, why: str) -> Any:
        name = ".".join(self.path)
        raise PolicyDenied(
            f"argument {name!r} {why} (rule {self.rule}.{kind})",
            details={"rule": f"{self.rule}.{kind}", "argument": name},
        )


@dataclass(frozen=True, slots=True)
class OperationPolicy:
    """What the catalog's policy says about one tool or operation."""

    entry: str
    """The `policy` key it came from: `tool` or `tool.operation`."""
    destructive: bool = False
    constraints: tuple[Constraint, ...] = ()
    max_result_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The catalog's whole `policy` section: entries by `tool` or `tool.operation`."""

    entries: Mapping[str, OperationPolicy] = field(default_factory=dict)

    def of(self, op: Operation) -> OperationPolicy | None:
        """The entry for `op`: its operation's, else its tool's, else None."""
        return self.entries.get(op.qualified) or self.entries.get(op.tool)

    def admit(self, principal: Principal, op: Operation, arguments: Mapping[str, Any]) -> None:
        """Step 4's policy check: the destructive grant, then every argument constraint;
        `PolicyDenied` naming the rule. Synchronous: it reads only the catalog and the call."""
        rules = self.of(op)
        if rules is None:
            return
        if rules.destructive and not principal.scopes.grants_destructive(op.tool, op.name):
            rule = f"policy.{rules.entry}.destructive"
            raise PolicyDenied(
                f"{op.qualified} is destructive: the key needs the grant "
                f"'destructive:{op.qualified}' (or a pattern covering it) (rule {rule})",
                details={"rule": rule, "grant": f"destructive:{op.qualified}"},
            )
        for constraint in rules.constraints:
            constraint.check(arguments)

    def cap(self, op: Operation, result: ToolResult) -> tuple[ToolResult, dict[str, Any] | None]:
        """`result` cut to the operation's `max_result_bytes`, with what the receipt says about
        it (None when nothing was cut). Raises `PolicyDenied` when no cut makes it fit."""
        rules = self.of(op)
        if rules is None or rules.max_result_bytes is None:
            return result, None
        return cap_result(result, rules.max_result_bytes, f"policy.{rules.entry}.max_result_bytes")


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def _fit_list(items: list[Any], budget: int) -> list[Any]:
    """The longest prefix of `items` whose JSON takes at most `budget` bytes."""
    low, high = 0, len(items)
    while low < high:
        mid = (low + high + 1) // 2
        if _size(items[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return items[:low]


def _cut_structured(value: Any, limit: int) -> Any:
    """`value` with its rows cut to fit `limit` bytes: a top-level array, else the largest array
    field of a top-level object. Raises ValueError when that cannot make it fit."""
    if isinstance(value, list):
        return _fit_list(value, limit)
    if isinstance(value, dict):
        arrays = [k for k, v in value.items() if isinstance(v, list) and v]
        if arrays:
            biggest = max(arrays, key=lambda k: _size(value[k]))
            rest = _size({**value, biggest: []})
            if rest <= limit:
                return {**value, biggest: _fit_list(value[biggest], limit - rest + 2)}
    raise ValueError("cannot cut")


def _cut_text(text: str, budget: int) -> str:
    data = text.encode("utf-8")[: max(0, budget)]
    return data.decode("utf-8", errors="ignore")


def cap_result(
    result: ToolResult, limit: int, rule: str
) -> tuple[ToolResult, dict[str, Any] | None]:
    """`result` fitted to `limit` bytes (its structured content as JSON, plus its text blocks'
    UTF-8). Arrays lose their last rows, text blocks their tail; the returned note says
    `{"rule", "limit_bytes", "original_bytes"}`. `PolicyDenied` when the structured content has
    no rows to cut and is over the limit by itself."""
    texts = [b.text for b in result.content if isinstance(b, TextBlock)]
    structured_size = 0 if result.structured is None else _size(result.structured)
    text_size = sum(len(t.encode("utf-8")) for t in texts)
    original = structured_size + text_size
    if original <= limit:
        return result, None
    structured = result.structured
    budget = limit - min(text_size, limit // 2)
    if structured is not None and structured_size > budget:
        try:
            structured = _cut_structured(structured, budget)
        except ValueError:
            raise PolicyDenied(
                f"the result is over {limit} bytes and has no rows to cut (rule {rule})",
                details={"rule": rule, "limit_bytes": limit, "original_bytes": original},
            ) from None
    room = limit - (0 if structured is None else _size(structured))
    blocks = []
    for block in result.content:
        if isinstance(block, TextBlock):
            cut = _cut_text(block.text, room)
            room -= len(cut.encode("utf-8"))
            block = dataclasses.replace(block, text=cut)
        blocks.append(block)
    capped = dataclasses.replace(result, structured=structured, content=tuple(blocks))
    note = {"rule": rule, "limit_bytes": limit, "original_bytes": original}
    return capped, note


def compile_constraint(entry: str, path: str, raw: Mapping[str, Any]) -> Constraint:
    """One argument's rules from the catalog (already checked against the schema); ValueError
    naming the rule for a bad regex or an empty range."""
    rule = f"policy.{entry}.arguments.{path}"
    low, high = raw.get("min"), raw.get("max")
    if low is not None and high is not None and low > high:
        raise ValueError(f"at {rule}: min is above max")
    for bound in (low, high):
        if bound is not None and not math.isfinite(bound):
            raise ValueError(f"at {rule}: bounds must be finite numbers")
    try:
        pattern = None if "pattern" not in raw else re.compile(raw["pattern"])
        forbid = tuple(re.compile(p) for p in raw.get("forbid", ()))
    except re.error as exc:
        raise ValueError(f"at {rule}: not a valid regular expression: {exc}") from None
    domains = raw.get("domains")
    return Constraint(
        path=tuple(path.split(".")),
        rule=rule,
        domains=None if domains is None else tuple(d.lower() for d in domains),
        min=low,
        max=high,
        max_items=raw.get("max_items"),
        one_of=None if "one_of" not in raw else tuple(raw["one_of"]),
        pattern=pattern,
        forbid=forbid,
    )


def compile_policy(raw: Mapping[str, Mapping[str, Any]]) -> Policy:
    """The `policy` section (already checked against the catalog schema) compiled."""
    entries = {}
    for entry, body in raw.items():
        arguments: Mapping[str, Mapping[str, Any]] = body.get("arguments", {})
        constraints: Sequence[Constraint] = [
            compile_constraint(entry, path, rules) for path, rules in arguments.items()
        ]
        entries[entry] = OperationPolicy(
            entry=entry,
            destructive=bool(body.get("destructive", False)),
            constraints=tuple(constraints),
            max_result_bytes=body.get("max_result_bytes"),
        )
    return Policy(entries)
