"""Which of the MCP door's two response types a client accepts, read from its `Accept` header.

Streamable HTTP answers a POST in `application/json` or `text/event-stream`; a client MUST list
both, but real clients send one, `*/*` or nothing, so the door is lenient (protocols.md §2.2.2)
and answers in a type the client accepts, or 406 when it accepts neither.

The header is read as RFC 9110 §12.5.1 says: comma-separated media ranges, each with optional
parameters; `q=0` means "not acceptable"; the most specific range that matches a type decides
(`text/event-stream;q=0, */*` accepts JSON only). A missing or empty header accepts anything.

What this is not: the choice between JSON and SSE for an answer that may stream (`sse.answer`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

JSON = ("application", "json")
SSE = ("text", "event-stream")


@dataclass(frozen=True, slots=True)
class Accepts:
    """What the client accepts: `json` (application/json) and `sse` (text/event-stream)."""

    json: bool
    sse: bool

    @property
    def nothing(self) -> bool:
        return not (self.json or self.sse)


ANY = Accepts(json=True, sse=True)


def accepts(header: str | None) -> Accepts:
    """The `Accepts` of an `Accept` header value (None or blank: both). A client sends the same
    value on every request: the last `ACCEPT_CACHE` distinct values of up to `CACHED_LENGTH`
    characters are remembered (a longer one is parsed each time, never kept)."""
    if header is None or not header.strip():
        return ANY
    return _remembered(header) if len(header) <= CACHED_LENGTH else _parse(header)


ACCEPT_CACHE = 256
CACHED_LENGTH = 256


def _parse(header: str) -> Accepts:
    ranges = [r for r in (_media_range(part) for part in header.split(",")) if r is not None]
    return Accepts(json=_acceptable(ranges, JSON), sse=_acceptable(ranges, SSE))


_remembered = functools.lru_cache(maxsize=ACCEPT_CACHE)(_parse)

_Range = tuple[str, str, float]


def _media_range(text: str) -> _Range | None:
    """`type/subtype;q=0.5` -> ("type", "subtype", 0.5); None for a malformed range."""
    kind, *params = (p.strip() for p in text.split(";"))
    main, slash, sub = kind.lower().partition("/")
    if not slash or not main or not sub or (main == "*" and sub != "*"):
        return None
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
    return main, sub, q


def _acceptable(ranges: list[_Range], wanted: tuple[str, str]) -> bool:
    """The q of the most specific range matching `wanted` is above zero."""
    best: tuple[int, float] | None = None
    for main, sub, q in ranges:
        if (main, sub) == wanted:
            specificity = 2
        elif main == wanted[0] and sub == "*":
            specificity = 1
        elif (main, sub) == ("*", "*"):
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0] or (specificity == best[0] and q > best[1]):
            best = (specificity, q)
    return best is not None and best[1] > 0
