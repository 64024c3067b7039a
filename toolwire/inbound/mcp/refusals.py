"""How the MCP door's HTTP transports turn a request away: ONE table, keyed by error class.

A refusal happens before any message is handled (Origin, credential, session, method, media
types, body size), so it is a JSON-RPC error with a null id (unless the message was read), the
row's code (`-32600` unless it says otherwise) with the toolwire error in `data`, in the
response type the client accepts (`sse.send_reply`), with the status and headers its row gives.
Streamable HTTP (`/mcp`) and legacy HTTP+SSE (`/sse`, `/messages`) both answer through
`refuse()`, so the same refusal has the same form on every endpoint.

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
    Unavailable,
)
from toolwire.inbound.http import retry_after_s
from toolwire.inbound.mcp import jsonrpc, media, security, sse
from toolwire.inbound.mcp.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, RpcError
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
    `Allow` from the error's `allow`; retry_after: add `Retry-After` from the error's
    `details.retry_after_s` (RFC 9110 §10.2.3); rpc: the JSON-RPC code of the body."""

    status: HTTPStatus
    challenge: bool = False
    allow: bool = False
    retry_after: bool = False
    rpc: int = INVALID_REQUEST


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
    Unavailable: Row(HTTPStatus.SERVICE_UNAVAILABLE, retry_after=True, rpc=INTERNAL_ERROR),
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
    seconds = retry_after_s(error)
    if row.retry_after and seconds is not None:
        headers.append((b"retry-after", str(seconds).encode()))
    # A refusal comes before the message is read: its id is unknown, sent as null (JSON-RPC 2.0
    # §5), which clients read as "the request this POST carried" (the mcp SDK drops an error
    # without an id and answers its own -32603 instead).
    rpc = RpcError(row.rpc, error.message, error.to_dict())
    body = jsonrpc.error(rid, rpc, null_id=True)
    await sse.send_reply(send, body, int(row.status), headers, accepts=accepts)
