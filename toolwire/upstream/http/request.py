"""Building an upstream HTTP request from an operation's validated arguments.

Two ways to say where each argument goes:

- `ExpressionRequest` (hand-written specs): a URL template whose `{name}` placeholders take
  arguments, and optional JMESPath expressions evaluated over the arguments for the query string,
  the headers and the JSON body (e.g. ``"{q: query, count: max_results}"``; null values are
  dropped). Without expressions, what the path did not use goes to the query string for
  GET/HEAD/DELETE and to the JSON body otherwise.
- `LocatedRequest` (OpenAPI imports): each argument has a declared location (path, query,
  header, cookie, body property, or the whole body) and style (`styles.py`).

What it is: pure functions from arguments to (url, query, headers, body). What it is not:
sending, auth or error handling (`toolwire.upstream.http.adapter`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import jmespath
import orjson
from jmespath.parser import ParsedResult
from jmespath.visitor import Options, TreeInterpreter

from toolwire.core.errors import InvalidArguments
from toolwire.upstream.http import styles
from toolwire.upstream.http.segments import path_segment

PLACEHOLDER = re.compile(r"\{(\+?)([A-Za-z_][A-Za-z0-9_.-]*)\}")
BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
Location = Literal["path", "query", "header", "cookie", "body", "body_whole"]


@dataclass(frozen=True)
class Built:
    url: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any = None
    has_body: bool = False


def fill_url(template: str, args: Mapping[str, Any]) -> tuple[str, set[str]]:
    """The template with each `{name}` replaced by its argument: in the path, as one segment
    (`path_segment`: percent-encoded, never a dot segment); after `?`, percent-encoded; `{+name}`
    inserts it as is (RFC 6570 reserved expansion, for a whole URL given at call time: the SSRF
    guard and credential confinement still apply). Returns the url and the names used. Raises
    `InvalidArguments` naming the argument that is missing or cannot be a path segment."""
    used: set[str] = set()
    query_at = template.find("?")

    def sub(match: re.Match[str]) -> str:
        raw, name = match.group(1), match.group(2)
        if name not in args or args[name] is None:
            raise InvalidArguments(
                details={"errors": [{"path": f"/{name}", "message": "required in the URL"}]}
            )
        used.add(name)
        value = _scalar(args[name])
        if raw:
            return value
        if 0 <= query_at < match.start():
            return quote(value, safe="")
        try:
            return path_segment(value)
        except ValueError as exc:
            raise InvalidArguments(
                details={"errors": [{"path": f"/{name}", "message": str(exc)}]}
            ) from None

    return PLACEHOLDER.sub(sub, template), used


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def query_pairs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            pairs.extend((key, _scalar(v)) for v in value if v is not None)
        else:
            pairs.append((key, _scalar(value)))
    return pairs


class Expression(ParsedResult):
    """A compiled JMESPath expression that searches with an interpreter of its own, made once.
    `ParsedResult.search` makes a `TreeInterpreter` (and its function table) for every search,
    most of what a small expression such as `{message: message}` costs. The interpreter keeps
    nothing between searches but its cache of visit methods by node type."""

    def __init__(self, expression: str, parsed: Any) -> None:
        super().__init__(expression, parsed)
        self._interpreter = TreeInterpreter()

    def search(self, value: Any, options: Options | None = None) -> Any:
        if options is not None:
            return super().search(value, options)
        return self._interpreter.visit(self.parsed, value)


def compile_expression(text: str | None, where: str) -> ParsedResult | None:
    if text is None:
        return None
    try:
        compiled = jmespath.compile(text)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"{where}: invalid JMESPath: {exc}") from None
    return Expression(compiled.expression, compiled.parsed)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


@dataclass(frozen=True)
class ExpressionRequest:
    method: str
    url: str
    query: ParsedResult | None = None
    headers: ParsedResult | None = None
    body: ParsedResult | None = None

    def build(self, args: Mapping[str, Any]) -> Built:
        url, used = fill_url(self.url, args)
        rest = {k: v for k, v in args.items() if k not in used}
        query: dict[str, Any] = {}
        body: Any = None
        has_body = False
        if self.query is not None:
            query = _mapping(self.query.search(args), "query")
        if self.body is not None:
            body, has_body = _drop_nulls(self.body.search(args)), True
        if self.query is None and self.body is None:
            if self.method in BODYLESS:
                query = rest
            else:
                body, has_body = rest, True
        headers = {}
        if self.headers is not None:
            found = _mapping(self.headers.search(args), "headers")
            headers = {k: _scalar(v) for k, v in found.items()}
        return Built(url, query_pairs(query), headers, body, has_body)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"the {what} expression must produce an object")
    return {k: v for k, v in value.items() if v is not None}


@dataclass(frozen=True)
class LocatedRequest:
    method: str
    url: str
    locations: Mapping[str, tuple[Location, str]] = field(default_factory=dict)
    """argument name -> (location, name on the wire). Only these become path, query, header or
    cookie parameters: an argument with no location goes into the JSON body."""
    styles: Mapping[str, styles.Style] = field(default_factory=dict)
    """argument name -> how it is written on the wire (default: its location's default style)."""

    def build(self, args: Mapping[str, Any]) -> Built:
        """The request; path, query, header and cookie values serialised by their declared
        styles (`styles.py`). The query string is in `url`, already encoded."""
        segments: dict[str, str] = {}
        query: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        cookies: list[str] = []
        body: Any = None
        has_body = False
        for arg, value in args.items():
            where, wire = self.locations.get(arg, ("body", arg))
            style = self.styles.get(arg) or (
                styles.Style.default(where) if where in styles.DEFAULT_STYLE else None
            )
            if where == "body":
                body = {} if body is None else body
                body[wire] = value
                has_body = True
            elif where == "body_whole":
                body, has_body = value, True
            elif value is None or style is None:
                continue
            elif where == "path":
                segments[wire] = styles.path_segment(wire, value, style)
            elif where == "query":
                query.extend(styles.query_pairs(wire, value, style))
            elif where == "header":
                headers[wire] = styles.header_value(arg, value, style)
            elif where == "cookie":
                cookies.extend(styles.cookie_pairs(wire, value, style))
        url = PLACEHOLDER.sub(lambda m: _segment(m, segments), self.url)
        styles.check_path(url, next(iter(segments), "path"))
        if query:
            url += ("&" if "?" in url else "?") + styles.query_string(query)
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        return Built(url, [], headers, body, has_body)


def _segment(match: re.Match[str], segments: Mapping[str, str]) -> str:
    name = match.group(2)
    if name not in segments:
        raise InvalidArguments(
            details={"errors": [{"path": f"/{name}", "message": "required in the URL"}]}
        )
    return segments[name]


RequestBuilder = ExpressionRequest | LocatedRequest
