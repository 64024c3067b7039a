"""Which OpenAPI parameters a model may set, and how each is written on the wire.

What it is: `Owned` (the header and query names the gateway itself sets for one upstream) and
`decide(param, owned)`: a parameter is either usable, with its `Style`, or ignored with a reason.
The allowed headers are an allow-list: a header parameter is kept only when its name is an HTTP
token (RFC 9110 §5.1) that is none of

- `Accept`, `Content-Type`, `Authorization`: OpenAPI 3.0.3 §4.7.12.1 and 3.1 §4.8.12.1 say such
  header parameters "SHALL be ignored";
- the connection and framing headers HTTP clients own (`Host`, `Content-Length`,
  `Transfer-Encoding`, `Connection`, `Cookie`, `Proxy-*`, ...: `GATEWAY_HEADERS`);
- the upstream's own: its auth header (`Authorization` for bearer, basic and OAuth; the `name`
  of `header` auth) and every header its config sets (`headers:`).

So credentials reach an upstream only from the vault. Query parameters named like the
upstream's `query` auth parameter are ignored the same way. Cookies are sent only from declared
cookie parameters. What it is not: the serialisation (`toolwire.upstream.http.styles`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolwire.upstream.http.adapter import UpstreamSpec
from toolwire.upstream.http.styles import DEFAULT_STYLE, STYLES, Style

SPEC_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
GATEWAY_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "cookie",
        "user-agent",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
    }
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class Owned:
    """Names the gateway sets for one upstream, lower-case: never taken from arguments."""

    headers: frozenset[str] = frozenset()
    query: frozenset[str] = frozenset()

    @classmethod
    def of(cls, upstream: UpstreamSpec | None) -> Owned:
        if upstream is None:
            return cls()
        headers = {h.lower() for h in upstream.headers}
        query: set[str] = set()
        auth = upstream.auth
        if auth is not None:
            if auth.type == "header":
                headers.add((auth.name or "Authorization").lower())
            elif auth.type == "query":
                query.add((auth.name or "api_key").lower())
            else:
                headers.add("authorization")
        return cls(frozenset(headers), frozenset(query))


@dataclass(frozen=True)
class Decision:
    style: Style | None
    """None: the parameter is ignored, for `reason`."""
    reason: str = ""


def decide(param: Mapping[str, Any], owned: Owned) -> Decision:
    """Whether `param` (a resolved Parameter Object) becomes an argument, and its style."""
    where, name = param["in"], str(param["name"])
    lower = name.lower()
    if where == "header":
        if lower in SPEC_IGNORED_HEADERS:
            return Decision(None, f"header {name!r} is ignored (OpenAPI: set by the gateway)")
        if lower in GATEWAY_HEADERS or lower.startswith("proxy-") or not _TOKEN.match(name):
            return Decision(None, f"header {name!r} is set by the gateway, not by arguments")
        if lower in owned.headers:
            return Decision(None, f"header {name!r} is the upstream's own (auth or headers:)")
    if where == "cookie" and "cookie" in owned.headers:
        return Decision(None, f"cookie {name!r}: the upstream's headers: set the Cookie header")
    if where == "query" and lower in owned.query:
        return Decision(None, f"query parameter {name!r} carries the upstream's credential")
    if "content" in param and "schema" not in param:
        return Decision(Style("json", explode=False))
    style = str(param.get("style", DEFAULT_STYLE[where]))
    if style not in STYLES[where] or style == "json":
        raise ValueError(f"parameter {name!r}: style {style!r} is not defined for in: {where}")
    explode = param.get("explode", style == "form")
    allow_reserved = where == "query" and param.get("allowReserved") is True
    return Decision(Style(style, bool(explode), allow_reserved))


def content_schema(param: Mapping[str, Any]) -> Any:
    """The schema of a parameter declared with `content` (one JSON media type), or None."""
    content = param.get("content")
    if not isinstance(content, Mapping) or len(content) != 1:
        return None
    media, body = next(iter(content.items()))
    kind = str(media).split(";")[0].strip().lower()
    if not (kind == "application/json" or kind.endswith("+json")) or not isinstance(body, Mapping):
        return None
    return body.get("schema", {})
