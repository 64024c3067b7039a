"""Starlette routes of the A2A door: admission (key, body size), then the a2a-sdk's dispatcher.

The SDK's handler is built once per app, on the first A2A request, from the services the lifespan
built (`A2ADoor.of`): one handler per process, so one registry of running tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.default_request_handler_v2 import DefaultRequestHandlerV2
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolwire.core.errors import ToolwireError
from toolwire.core.model import Principal
from toolwire.inbound.a2a import card, messages
from toolwire.inbound.a2a.executor import GatewayExecutor, PrincipalUser
from toolwire.inbound.a2a.tasks import StateTaskStore
from toolwire.inbound.http import api_key_from, json_response, read_body
from toolwire.inbound.rest import authenticate, request_id, services
from toolwire.services import Services

_PRINCIPAL = "toolwire.principal"


class _ContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context, with the authenticated toolwire key as its user."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.user = PrincipalUser(request.scope[_PRINCIPAL])
        return context


@dataclass
class A2ADoor:
    handler: DefaultRequestHandlerV2
    rpc: JsonRpcDispatcher

    @staticmethod
    def of(request: Request) -> A2ADoor:
        """This app's door, built from its services on first use."""
        door: A2ADoor | None = getattr(request.app.state, "a2a_door", None)
        if door is None:
            door = _build(services(request))
            request.app.state.a2a_door = door
        return door


def _build(svc: Services) -> A2ADoor:
    handler = DefaultRequestHandlerV2(
        agent_executor=GatewayExecutor(svc.gateway, svc.state),
        task_store=StateTaskStore(svc.state, svc.settings.a2a_task_retention_s),
        agent_card=card.agent_card(svc.settings, None),
    )
    rpc = JsonRpcDispatcher(handler, _ContextBuilder(), enable_v0_3_compat=True)
    return A2ADoor(handler, rpc)


def admission_error(error: ToolwireError, rid: str) -> Response:
    """A request refused before the handler: the table's HTTP status, a JSON-RPC error body."""
    status = messages.ADMISSION_STATUS.get(error.code, 500)
    headers = {"x-request-id": rid}
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="toolwire"'
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": messages.ADMISSION_RPC_CODE,
            "message": error.message,
            "data": error.to_dict(),
        },
    }
    return json_response(body, status, headers)


async def jsonrpc(request: Request) -> Response:
    rid = request_id(request)
    svc = services(request)
    try:
        principal = await authenticate(request)
        # read (bounded) now: Starlette keeps the body for the dispatcher's own read
        request._body = await read_body(request, svc.settings.max_body_bytes)
    except ToolwireError as exc:
        return admission_error(exc, rid)
    request.scope[_PRINCIPAL] = principal
    return await A2ADoor.of(request).rpc.handle_requests(request)


async def agent_card(request: Request) -> Response:
    rid = request_id(request)
    svc = services(request)
    principal: Principal | None = None
    if api_key_from(request) is not None or "authorization" in request.headers:
        try:
            principal = await authenticate(request)
        except ToolwireError as exc:
            return admission_error(exc, rid)
    ops = None if principal is None else svc.gateway.visible(principal)
    body = agent_card_to_dict(card.agent_card(svc.settings, ops))
    return json_response(
        body, headers={"cache-control": "private, max-age=60", "vary": "authorization, x-api-key"}
    )


routes = [
    Route("/.well-known/agent-card.json", agent_card, methods=["GET"]),
    Route("/.well-known/agent.json", agent_card, methods=["GET"]),
    Route(card.RPC_PATH, jsonrpc, methods=["POST"]),
    Route("/api/a2a", jsonrpc, methods=["POST"]),
]
