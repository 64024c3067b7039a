"""Starlette routes of the A2A door. The handlers live in `toolwire.inbound.a2a.door`, imported
on the first A2A request: the a2a-sdk is not loaded by a gateway no agent has called.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

RPC_PATH = "/a2a"
"""The JSON-RPC binding (`/api/a2a` answers the same), and the base of the HTTP+JSON one
(`toolwire.inbound.a2a.card.RPC_PATH`, the same value)."""


async def jsonrpc(request: Request) -> Response:
    from toolwire.inbound.a2a import door

    return await door.jsonrpc(request)


async def rest_binding(scope: Scope, receive: Receive, send: Send) -> None:
    from toolwire.inbound.a2a import door

    await door.rest_binding(scope, receive, send)


async def agent_card(request: Request) -> Response:
    from toolwire.inbound.a2a import door

    return await door.agent_card(request)


routes = [
    Route("/.well-known/agent-card.json", agent_card, methods=["GET"]),
    Route("/.well-known/agent.json", agent_card, methods=["GET"]),
    Route(RPC_PATH, jsonrpc, methods=["POST"]),
    Route("/api/a2a", jsonrpc, methods=["POST"]),
    Mount(RPC_PATH, app=rest_binding),
]
