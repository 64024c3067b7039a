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
from toolwire.inbound import http
from toolwire.inbound.face import Face
from toolwire.inbound.http import ErrorRow
from toolwire.inbound.mcp import jsonrpc, media, security, sse
from toolwire.inbound.mcp.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, RpcError
from toolwire.inbound.mcp.sessions import SessionNotFound
from toolwire.inbound.refusals import (
    MethodNotAllowed,
    NotAcceptable,
    OriginNotAllowed,
    UnsupportedMediaType,
)


@dataclass(frozen=True, slots=True)
class Row(ErrorRow):
    """An HTTP door's row (status, `WWW-Authenticate`, `Allow`, `Retry-After`), plus `rpc`: the
    JSON-RPC code of the body."""

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
    return http.row_for(TRANSPORT, error)


async def refuse(
    send: Send,
    error: ToolwireError,
    services: Face,
    *,
    accepts: media.Accepts = media.ANY,
    rid: jsonrpc.RequestId | None = None,
) -> None:
    """Answer the whole HTTP request with `error` (nothing may have been sent yet)."""
    row = row_for(type(error))
    headers = [
        (name.encode(), value.encode())
        for name, value in row.headers(error, security.challenge(services, error)).items()
    ]
    # A refusal comes before the message is read: its id is unknown, sent as null (JSON-RPC 2.0
    # §5), which clients read as "the request this POST carried" (the mcp SDK drops an error
    # without an id and answers its own -32603 instead).
    rpc = RpcError(row.rpc, error.message, error.to_dict())
    body = jsonrpc.error(rid, rpc, null_id=True)
    await sse.send_reply(send, body, int(row.status), headers, accepts=accepts)
