"""HTTP plumbing every HTTP door shares: reading a bounded body, finding the key, JSON replies.

Transport only: nothing here knows about tools, prices or scopes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from toolwire.core.errors import InvalidRequest, PayloadTooLarge, ToolwireError

JSON = "application/json"

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """How an HTTP door answers one error class. status: the HTTP status; challenge: add
    `WWW-Authenticate` (RFC 6750); allow: add `Allow` from the error's `details.allow`
    (RFC 9110 §15.5.6); retry_after: add `Retry-After` from `details.retry_after_s`
    (RFC 9110 §10.2.3)."""

    status: HTTPStatus
    challenge: bool = False
    allow: bool = False
    retry_after: bool = False

    def headers(self, error: ToolwireError, challenge: str) -> dict[str, str]:
        """The headers this row adds to `error`'s answer; `challenge`: the door's
        `WWW-Authenticate` value."""
        headers: dict[str, str] = {}
        if self.challenge:
            headers["www-authenticate"] = challenge
        details = error.details if isinstance(error.details, Mapping) else {}
        allow = details.get("allow")
        if self.allow and isinstance(allow, list):
            headers["allow"] = ", ".join(str(method) for method in allow)
        seconds = retry_after_s(error)
        if self.retry_after and seconds is not None:
            headers["retry-after"] = str(seconds)
        return headers


class IndexedHeaders(Headers):
    """Starlette's `Headers`, with the first value of each name indexed once, decoded: `get`,
    `[]` and `in` are one dict look-up instead of a scan of the raw list and two codec calls per
    call (a request of the MCP door reads a dozen headers). Same answers: names are
    case-insensitive (ASGI gives them in lower case), the first value wins, `getlist` still sees
    every value (a look-up too, but for a repeated name)."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        first: dict[str, str] = {}
        repeated: set[str] = set()
        for key, value in self._list:
            name = key.decode("latin-1")
            if name in first:
                repeated.add(name)
            else:
                first[name] = value.decode("latin-1")
        self._first = first
        self._repeated = repeated

    def getlist(self, key: str) -> list[str]:
        name = key.lower()
        if name in self._repeated:
            return super().getlist(key)
        value = self._first.get(name)
        return [] if value is None else [value]

    def __getitem__(self, key: str) -> str:
        value = self._first.get(key.lower())
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self._first.get(key.lower(), default)

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower() in self._first


class IndexedRequest(Request):
    """A Starlette `Request` whose `headers` are `IndexedHeaders`, built on first use and then
    an attribute of the instance (`cached_property`): a dozen reads without a property call."""

    @functools.cached_property
    def headers(self) -> Headers:
        return IndexedHeaders(self.scope)


def row_for(table: Mapping[type[ToolwireError], Row], error: type[ToolwireError]) -> Row:
    """The row of `error`'s class in a door's table, or of its nearest listed ancestor (every
    table lists `ToolwireError`, which closes it)."""
    for cls in error.__mro__:
        row = table.get(cls)
        if row is not None:
            return row
    return table[ToolwireError]


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The request body. The size limit is `toolwire.inbound.middleware.Edge`'s, which
    raises `PayloadTooLarge` from the stream; `limit` (bytes) adds the same check here, for a
    door that must refuse before the middleware's bound or runs without it."""
    if declared_size(request.headers.get("content-length"), limit) == 0:
        return b""
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if limit is not None and total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_raw_body(request: Request, limit: int) -> bytes:
    """`read_body(request, limit)` read straight from the request's ASGI `receive`, not
    through Starlette's `Request.stream` (an async generator per request: the MCP door's hot
    path, docs/benchmarks.md). Same checks and errors. For a door that reads the body once and
    never asks the `Request` for it again (its `body()` would wait for more)."""
    if declared_size(request.headers.get("content-length"), limit) == 0:
        return b""
    receive = request.receive
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def declared_size(declared: str | None, limit: int | None) -> int | None:
    """A `Content-Length` value as a size (None: not declared); `InvalidRequest` when it is not
    a number, `PayloadTooLarge` when it is over `limit`."""
    if declared is None:
        return None
    try:
        size = int(declared)
    except ValueError:
        raise InvalidRequest("invalid Content-Length header") from None
    if limit is not None and size > limit:
        raise PayloadTooLarge(
            f"request body of {size} bytes exceeds the limit of {limit} bytes",
            details={"limit_bytes": limit},
        )
    return size


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body exceeds the limit of {limit} bytes", details={"limit_bytes": limit}
    )


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None


def api_key_from(request: Request) -> str | None:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    return api_key_of(request.headers.get("authorization"), request.headers.get("x-api-key"))


def api_key_of(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from the two headers' values: `Authorization: Bearer <key>` when that header is
    there (RFC 6750 §2.1; any other scheme: no key), else `X-API-Key`; None when neither."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return x_api_key or None


def scope_headers(scope: Scope, names: frozenset[bytes]) -> dict[bytes, str]:
    """The first value of each header of `names` (lower-case bytes, as ASGI gives them) that
    the request carries, decoded as latin-1: one pass over the raw headers, no `Headers`
    object (the raw ASGI doors' hot path, docs/benchmarks.md)."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in names and key not in found:
            found[key] = value.decode("latin-1")
    return found


async def receive_body(receive: Receive) -> bytes:
    """The whole request body from ASGI `receive` (the size limit is `Edge`'s, raised from
    `receive` as `PayloadTooLarge`); `ClientDisconnect` when the client leaves first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def etag_of(body: bytes) -> str:
    """A strong entity tag for `body` (RFC 9110 §8.8.3): the first 128 bits of its SHA-256."""
    return '"' + sha256(body).hexdigest()[:32] + '"'


def none_match(request: Request, etag: str) -> bool:
    """Whether `If-None-Match` lists `etag` (or `*`): the client's copy is current, answer 304
    (RFC 9110 §13.1.2; weak comparison, so a `W/` prefix matches too)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


async def send_json(
    send: Send, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> None:
    """`json_response(body, status, headers)` written straight to ASGI `send`: the same bytes
    and headers without a `Response` object (the raw ASGI doors' hot path)."""
    content = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    raw.append((b"content-length", str(len(content)).encode()))
    raw.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def retry_after_s(error: ToolwireError) -> int | None:
    """The error's `details.retry_after_s` (whole seconds, what `Retry-After` carries), if any."""
    details = error.details
    if isinstance(details, Mapping):
        seconds = details.get("retry_after_s")
        if isinstance(seconds, int) and not isinstance(seconds, bool):
            return seconds
    return None
