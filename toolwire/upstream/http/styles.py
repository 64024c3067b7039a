"""Parameter serialisation on the wire as OpenAPI declares it: `style`, `explode`, `allowReserved`.

What it is: pure functions from an argument's value and its `Style` to the text of a path
segment, a query string, a header value or a cookie, per OpenAPI 3.0.3 §4.7.12.4 "Style Values"
and 3.1.1 §4.8.12.4 (with RFC 6570 for the path and query forms):

    in      style           array [3,4,5]                object {"a": 1, "b": 2}
    path    simple          3,4,5                        a,1,b,2        (explode: a=1,b=2)
    path    label           .3,4,5  (explode: .3.4.5)    .a,1,b,2       (explode: .a=1.b=2)
    path    matrix          ;id=3,4,5 (explode: ;id=3;id=4;id=5)  ;id=a,1,b,2 (explode: ;a=1;b=2)
    query   form            id=3&id=4&id=5 (explode: false: id=3,4,5)  a=1&b=2 (false: id=a,1,b,2)
    query   spaceDelimited  id=3%204%205                 id=a%201%20b%202
    query   pipeDelimited   id=3|4|5                     id=a|1|b|2
    query   deepObject      (arrays: as form)            id[a]=1&id[b]=2 (nested: id[a][c]=..)
    header  simple          3,4,5                        a,1,b,2        (explode: a=1,b=2)
    cookie  form            id=3,4,5 (explode: id=3; id=4; id=5)  id=a,1,b,2 (explode: a=1; b=2)

`json` is the style of a parameter declared with `content: {application/json: ...}`: its value is
sent as JSON text. Values are encoded by allow-list: only RFC 3986 unreserved characters stay as
they are (plus, with `allowReserved` in a query, the reserved ones that cannot change the query's
structure: everything but `&`, `=`, `+` and `#`). A path segment can never be `.` or `..` in any
encoding; a header or cookie value can hold printable ASCII only (no CR, LF or NUL). Other values
raise `InvalidArguments`. What it is not: deciding where each argument goes (`request.py`) or
which parameters may be set at all (`toolwire.upstream.openapi.params`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from toolwire.core.errors import InvalidArguments
from toolwire.upstream.http.segments import is_dot_segment

STYLES: dict[str, frozenset[str]] = {
    "path": frozenset({"simple", "label", "matrix", "json"}),
    "query": frozenset({"form", "spaceDelimited", "pipeDelimited", "deepObject", "json"}),
    "header": frozenset({"simple", "json"}),
    "cookie": frozenset({"form", "json"}),
}
DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
QUERY_RESERVED_KEPT = ":/?[]@!$'()*,;"
"""Reserved characters `allowReserved` leaves as they are (RFC 3986 §2.2 less `&=+#`)."""
_HEADER_TEXT = re.compile(r"^[\x20-\x7e\t]*$")
_COOKIE_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"
"""RFC 6265 cookie-octets besides letters and digits: no space, DQUOTE, comma, semicolon, `\\`."""


@dataclass(frozen=True)
class Style:
    """How one parameter is written: `style` (see the table above), `explode`, `allowReserved`."""

    style: str
    explode: bool
    allow_reserved: bool = False

    @classmethod
    def default(cls, where: str) -> Style:
        style = DEFAULT_STYLE[where]
        return cls(style, explode=style == "form")


def _bad(name: str, message: str) -> InvalidArguments:
    return InvalidArguments(details={"errors": [{"path": f"/{name}", "message": message}]})


def _text(value: Any) -> str:
    """A primitive as text (RFC 6570 expands booleans and numbers as JSON spells them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _items(value: Any) -> list[tuple[str, Any]] | None:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items() if v is not None]
    return None


def _values(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return None


def _enc(text: str, safe: str = "") -> str:
    return quote(text, safe=safe)


# -- path ----------------------------------------------------------------------------------------


def path_segment(name: str, value: Any, style: Style) -> str:
    """The expansion of `{name}` in a path template, percent-encoded."""
    if style.style == "json":
        return _enc(orjson.dumps(value).decode())
    prefix = {"simple": "", "label": ".", "matrix": ";"}[style.style]
    inner = "." if style.style == "label" and style.explode else ","
    if style.style == "matrix":
        inner = ";"
    values, items = _values(value), _items(value)
    if values is not None:
        parts = [_enc(_text(v)) for v in values]
        if style.style == "matrix":
            if style.explode:
                return "".join(f";{name}={p}" for p in parts)
            return f";{name}=" + ",".join(parts)
        return prefix + (inner if style.explode else ",").join(parts)
    if items is not None:
        if style.explode:
            pairs = [f"{_enc(k)}={_enc(_text(v))}" for k, v in items]
            return prefix + inner.join(pairs) if style.style != "matrix" else ";" + ";".join(pairs)
        flat = ",".join(f"{_enc(k)},{_enc(_text(v))}" for k, v in items)
        return f";{name}={flat}" if style.style == "matrix" else prefix + flat
    text = _enc(_text(value))
    if style.style == "matrix":
        return f";{name}={text}" if text else f";{name}"
    return prefix + text


def check_path(path: str, name_of_template: str) -> None:
    """Refuse a filled path with a `.` or `..` segment, in any percent-encoding (RFC 3986
    §5.2.4 would remove it, walking the path)."""
    for segment in path.split("?", 1)[0].split("/"):
        if segment and is_dot_segment(segment):
            raise _bad(name_of_template, "a path segment cannot be '.' or '..' in any encoding")


# -- query ---------------------------------------------------------------------------------------


def query_pairs(name: str, value: Any, style: Style) -> list[tuple[str, str]]:
    """(name, value) pairs already percent-encoded, in order."""
    safe = QUERY_RESERVED_KEPT if style.allow_reserved else ""

    def enc(text: str) -> str:
        return _enc(text, safe)

    wire = _enc(name)
    if style.style == "json":
        return [(wire, enc(orjson.dumps(value).decode()))]
    values, items = _values(value), _items(value)
    if style.style == "deepObject" and items is not None:
        return _deep(wire, items, enc)
    joiner = {"spaceDelimited": "%20", "pipeDelimited": "|"}.get(style.style, ",")
    if values is not None:
        if style.explode:
            return [(wire, enc(_text(v))) for v in values]
        return [(wire, joiner.join(enc(_text(v)) for v in values))] if values else []
    if items is not None:
        if style.explode and style.style == "form":
            return [(_enc(k), enc(_text(v))) for k, v in items]
        flat = joiner.join(f"{enc(k)}{joiner}{enc(_text(v))}" for k, v in items)
        return [(wire, flat)] if items else []
    return [(wire, enc(_text(value)))]


def _deep(prefix: str, items: list[tuple[str, Any]], enc: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        at = f"{prefix}[{_enc(key)}]"
        nested, values = _items(value), _values(value)
        if nested is not None:
            pairs.extend(_deep(at, nested, enc))
        elif values is not None:
            pairs.extend((at, enc(_text(v))) for v in values)
        else:
            pairs.append((at, enc(_text(value))))
    return pairs


def query_string(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in pairs)


# -- header and cookie ---------------------------------------------------------------------------


def header_value(name: str, value: Any, style: Style) -> str:
    """A header's value (`simple` style): text as given, arrays and objects comma-joined."""
    if style.style == "json":
        text = orjson.dumps(value).decode()
    else:
        values, items = _values(value), _items(value)
        if values is not None:
            text = ",".join(_text(v) for v in values)
        elif items is not None:
            sep = "=" if style.explode else ","
            text = ",".join(f"{k}{sep}{_text(v)}" for k, v in items)
        else:
            text = _text(value)
    if not _HEADER_TEXT.match(text):
        raise _bad(name, "a header value can hold printable ASCII characters only")
    return text


def cookie_pairs(name: str, value: Any, style: Style) -> list[str]:
    """`name=value` cookie strings (RFC 6265 §4.2.1), values encoded outside cookie-octets."""

    def enc(text: str) -> str:
        return _enc(text, _COOKIE_SAFE)

    if style.style == "json":
        return [f"{enc(name)}={enc(orjson.dumps(value).decode())}"]
    values, items = _values(value), _items(value)
    if values is not None:
        if style.explode:
            return [f"{enc(name)}={enc(_text(v))}" for v in values]
        return [f"{enc(name)}=" + ",".join(enc(_text(v)) for v in values)]
    if items is not None:
        if style.explode:
            return [f"{enc(k)}={enc(_text(v))}" for k, v in items]
        return [f"{enc(name)}=" + ",".join(f"{enc(k)},{enc(_text(v))}" for k, v in items)]
    return [f"{enc(name)}={enc(_text(value))}"]
