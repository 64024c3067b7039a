"""How the MCP door's HTTP transports turn a request away: ONE table, keyed by error class.

A refusal happens before any message is handled (Origin, credential, session, method, media
types, body size), so it is a JSON-RPC error without an id, `-32600` with the toolwire error in
`data`, in the response type the client accepts (`sse.send_reply`), with the status and headers
its row gives. Streamable HTTP (`/mcp`) and legacy HTTP+SSE (`/sse`, `/messages`) both answer
through `refuse()`, so the same refusal has the same form on every endpoint.

`TRANSPORT` is looked up along the error's class hierarchy, most specific first; every class a
transport raises has its own row (a test checks it), and `ToolwireError` closes the table.

What this is not: the errors of a handled request (JSON-RPC errors and `isError` results:
`jsonrpc.CORE_ERRORS` and the era status tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from starlette.types import Send

from toolwire.core.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ToolwireError,
    Unauthenticated,
)
from toolwire.inbound.mcp import jsonrpc, media, security, sse
from toolwire.inbound.mcp.jsonrpc import INVALID_REQUEST, RpcError
from toolwire.inbound.mcp.sessions import SessionNotFound
from toolwire.inbound.refusals import (
    MethodNotAllowed,
    NotAcceptable,
    OriginNotAllowed,
    UnsupportedMediaType,
)
from toolwire.services import Services


@dataclass(frozen=True, slots=True)
class Row:
    """status: the HTTP status; challenge: add `WWW-Authenticate` (RFC 6750); allow: add
    `Allow` from the error's `allow`."""

    status: HTTPStatus
    challenge: bool = False
    allow: bool = False


TRANSPORT: dict[type[ToolwireError], Row] = {
    OriginNotAllowed: Row(HTTPStatus.FORBIDDEN),
    Unauthenticated: Row(HTTPStatus.UNAUTHORIZED, challenge=True),
    SessionNotFound: Row(HTTPStatus.NOT_FOUND),
    MethodNotAllowed: Row(HTTPStatus.METHOD_NOT_ALLOWED, allow=True),
    NotAcceptable: Row(HTTPStatus.NOT_ACCEPTABLE),
    UnsupportedMediaType: Row(HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    PayloadTooLarge: Row(HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    NotFound: Row(HTTPStatus.NOT_FOUND),
    InvalidRequest: Row(HTTPStatus.BAD_REQUEST),
    ToolwireError: Row(HTTPStatus.INTERNAL_SERVER_ERROR),
}
"""Refusal class -> its answer; `ToolwireError` closes the table (the gateway's trouble)."""


def row_for(error: type[ToolwireError]) -> Row:
    """The row of `error`'s class or its nearest listed ancestor."""
    for cls in error.__mro__:
        row = TRANSPORT.get(cls)
        if row is not None:
            return row
    return TRANSPORT[ToolwireError]


async def refuse(
    send: Send,
    error: ToolwireError,
    services: Services,
    *,
    accepts: media.Accepts = media.ANY,
    rid: jsonrpc.RequestId | None = None,
) -> None:
    """Answer the whole HTTP request with `error` (nothing may have been sent yet)."""
    row = row_for(type(error))
    headers: list[tuple[bytes, bytes]] = []
    if row.challenge:
        headers.append((b"www-authenticate", security.challenge(services, error).encode()))
    if row.allow and isinstance(error, MethodNotAllowed):
        headers.append((b"allow", ", ".join(error.allow).encode()))
    body = jsonrpc.error(rid, RpcError(INVALID_REQUEST, error.message, error.to_dict()))
    await sse.send_reply(send, body, int(row.status), headers, accepts=accepts)
