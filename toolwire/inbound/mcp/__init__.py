"""The MCP door: Streamable HTTP at `/mcp` for both protocol eras, the legacy HTTP+SSE transport,
the RFC 9728 protected-resource document, and (in `stdio`) the stdio server and bridge.

Modules, from the wire inwards:

    streamable_http   POST/GET/DELETE /mcp: era decision, session tokens, SSE (moves bytes)
    legacy_sse        GET /sse + POST /messages (2024-11-05 clients; moves bytes)
    stdio             newline-delimited JSON-RPC on stdin/stdout, served in process
    bridge            `toolwire stdio --url`: stdin lines forwarded to a remote /mcp
    exchange          one HTTP exchange: request, services, runtime, Accept, refuse()
    refusals          the transport refusals' one table (status, headers) and their answer
    kernel            Connection + Kernel.receive: initialize, batches, cancellation, context,
                      error wrapping, once for every transport
    security          admission (method, Origin/Host, Bearer), 401 challenge, PRM document
    envelope          2026-07-28 `_meta` and header validation, Mcp-* header value coding
    sessions          sealed Mcp-Session-Id tokens and their revocation set
    sse               SSE framing and the JSON-or-SSE answer of one request
    media             which response types a client's Accept header allows
    batch             JSON-RPC batches (2025-03-26), run by the kernel
    handlers          the MCP methods, shared by every transport
    content           tool definitions and CallToolResult per protocol version
    jsonrpc           framing, error codes and the core-error table
    versions          the protocol versions and what each allows
    runtime           per-app state: running calls, cancellation and list-changed fan-out

Like every door, it translates and never decides: the core resolves, authorizes, validates,
prices and runs each call.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from toolwire.inbound.face import Face
from toolwire.inbound.front import FrontRoute
from toolwire.inbound.http import json_response
from toolwire.inbound.mcp import security
from toolwire.inbound.mcp.legacy_sse import LegacyMessages, LegacySse
from toolwire.inbound.mcp.streamable_http import McpEndpoint


async def protected_resource(request: Request) -> Response:
    """RFC 9728 metadata, when authorization servers are configured (404 in API-key-only mode)."""
    services: Face = request.app.state.face
    if not security.authorization_servers(services):
        return json_response({"error": "not_found"}, 404)
    return json_response(security.protected_resource_metadata(services))


_endpoint = McpEndpoint()


async def _fronted(scope: Scope, receive: Receive, send: Send, _: Mapping[bytes, str]) -> None:
    await _endpoint(scope, receive, send)


FRONT = FrontRoute(None, frozenset(), _fronted)
"""`/mcp`, answered at the front of the app (`toolwire.inbound.front`); `/mcp/<server>` and the
legacy transport take the routes below."""

routes: list[BaseRoute] = [
    Route("/mcp", _endpoint),
    Route("/mcp/", _endpoint),
    Route("/mcp/{server}", _endpoint),
    Route("/sse", LegacySse()),
    Route("/messages", LegacyMessages()),
    Route("/messages/", LegacyMessages()),
    Route(security.PRM_PATH, protected_resource, methods=["GET"]),
    Route(security.PRM_PATH + "/mcp", protected_resource, methods=["GET"]),
]
