"""ASGI middleware every HTTP door sits behind: `Edge`, one layer in a single pass over the
request headers (one ASGI layer instead of three: the hot path, docs/benchmarks.md):

- the request id: once per HTTP request, the caller's `X-Request-Id` when it is safe to echo
  (1-64 characters of ``[A-Za-z0-9._:-]``), else a fresh ``req_<32 hex>``; doors read it with
  `request_id_of(scope)` (`toolwire.inbound.rest.request_id` for a Starlette request);
- the body-size limit: the request body is refused beyond `Settings.max_body_bytes`. A declared
  `Content-Length` over the limit is refused before a byte is read, a streamed body as soon as it
  passes the limit, an unparsable `Content-Length` is an invalid request. The refusal is a typed
  error (`PayloadTooLarge`, `InvalidRequest`) raised from `receive()` when the door reads its
  body, so each door renders it through its own error table (REST envelope 413, MCP JSON-RPC
  error);
- the CORS dispatch: a request with an `Origin` goes through `toolwire.inbound.cors.Cors`, every
  other one straight to the routes.

What it is not: a response writer. Nothing here answers on its own (but `Cors`'s preflight).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolwire.core.context import bound
from toolwire.core.errors import InvalidRequest, PayloadTooLarge
from toolwire.core.ids import random_hex
from toolwire.inbound.cors import Cors
from toolwire.inbound.http import scope_headers
from toolwire.settings import Settings

SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
"""What a caller's `X-Request-Id` must look like to be echoed (logs, headers, audit)."""


def new_request_id(given: str | None = None) -> str:
    """`given` when it is safe to echo, else a fresh ``req_<32 hex>``."""
    if given and SAFE_REQUEST_ID.match(given):
        return given
    return "req_" + random_hex(16)  # 128 random bits, as uuid4 gave


def request_id_of(scope: Scope) -> str:
    """The request id `Edge` chose for this request (one is made if it did not run)."""
    rid = scope.setdefault("state", {}).get("request_id")
    if isinstance(rid, str):
        return rid
    return _chosen(scope, scope_headers(scope, _ID_HEADER).get(b"x-request-id"))


def _chosen(scope: Scope, given: str | None) -> str:
    """The request's id: the one already kept in ``scope["state"]``, else `new_request_id(given)`,
    kept there."""
    state: dict[str, Any] = scope.setdefault("state", {})
    rid = state.get("request_id")
    if not isinstance(rid, str):
        rid = state["request_id"] = new_request_id(given)
    return rid


_ID_HEADER = frozenset({b"x-request-id"})


EDGE_HEADERS = frozenset({b"x-request-id", b"content-length", b"origin"})
"""The request headers `Edge` reads (each one's first value counts: `http.scope_headers`)."""


def enter(scope: Scope, receive: Receive, found: Mapping[bytes, str], limit: int) -> Receive:
    """`Edge`'s work on one HTTP request whose headers were read (`found`: at least those of
    `EDGE_HEADERS` the request carries, as `http.scope_headers` gives them): choose its request
    id once (kept in ``scope["state"]``, `request_id_of`) and return `receive` bounded by the
    body limit of `limit` bytes (`PayloadTooLarge`, `InvalidRequest` raised from it)."""
    _chosen(scope, found.get(b"x-request-id"))
    return _Limited(receive, limit, found.get(b"content-length"))


class Edge:
    """The request id, the body limit and the CORS dispatch (module docstring)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.cors = Cors(app, settings)
        self.limit = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = scope_headers(scope, EDGE_HEADERS)
        limited = enter(scope, receive, found, self.limit)
        with bound(scope["state"]["request_id"]):  # every log line of this request carries it
            if b"origin" in found:
                await self.cors(scope, limited, send)
            else:
                await self.app(scope, limited, send)


class _Limited:
    """A `receive` that counts body bytes and raises the typed error at the limit."""

    __slots__ = ("_checked", "_declared", "_limit", "_receive", "_total")

    def __init__(self, receive: Receive, limit: int, declared: str | None) -> None:
        self._receive = receive
        self._limit = limit
        self._declared = declared
        self._checked = False
        self._total = 0

    async def __call__(self) -> Message:
        if not self._checked:
            self._checked = True
            self._check_declared()
        message = await self._receive()
        if message["type"] == "http.request":
            self._total += len(message.get("body", b""))
            if self._total > self._limit:
                raise PayloadTooLarge(
                    f"request body exceeds the limit of {self._limit} bytes",
                    details={"limit_bytes": self._limit},
                )
        return message

    def _check_declared(self) -> None:
        if self._declared is None:
            return
        try:
            size = int(self._declared)
        except ValueError:
            raise InvalidRequest("invalid Content-Length header") from None
        if size > self._limit:
            raise PayloadTooLarge(
                f"request body of {size} bytes exceeds the limit of {self._limit} bytes",
                details={"limit_bytes": self._limit},
            )
