"""Typed refusals of the HTTP transport layer: a request turned away before it is a call.

    InvalidRequest
    ├── UnsupportedMediaType   the body's Content-Type is not one the endpoint reads
    ├── NotAcceptable          the client accepts none of the endpoint's response types
    └── MethodNotAllowed       the HTTP method is not served here (`allow` lists what is)
    Forbidden
    └── OriginNotAllowed       a browser Origin (or Host) not on the allow-list

Each is a subclass of a core error, so it carries a stable core code (a door that knows only
codes still answers sensibly), and each HTTP door's ONE table has a row for its class (the MCP
door: `toolwire.inbound.mcp.refusals.TRANSPORT`). `PayloadTooLarge` and `Unauthenticated` are
core errors already; an unknown MCP session is `toolwire.inbound.mcp.sessions.SessionNotFound`.

What this is not: protocol errors inside a message (JSON-RPC `RpcError`), or call failures.
"""

from __future__ import annotations

from toolwire.core.errors import Forbidden, InvalidRequest


class UnsupportedMediaType(InvalidRequest):
    default_message = "Content-Type must be application/json"


class NotAcceptable(InvalidRequest):
    default_message = "Accept must allow application/json or text/event-stream"


class MethodNotAllowed(InvalidRequest):
    """`allow`: the methods this endpoint serves (the `Allow` header, RFC 9110 §15.5.6)."""

    default_message = "method not allowed"

    def __init__(self, allow: tuple[str, ...], message: str | None = None) -> None:
        super().__init__(message, details={"allow": list(allow)})
        self.allow = allow


class OriginNotAllowed(Forbidden):
    default_message = "origin not allowed"
