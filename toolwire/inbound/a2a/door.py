"""The A2A door's handlers: admission (key, body size), then the a2a-sdk's dispatcher.

The SDK's handler is built once per app, on the first A2A request (`A2ADoor.of`; closed by the
lifespan with `aclose` on shutdown when it was built): one handler per process, so one registry
of running tasks. This module imports the a2a-sdk (protobuf, pydantic, ~40 MB and ~0.4 s): only
`toolwire.inbound.a2a.routes` imports it, on the first A2A request, so an idle gateway that
serves no agent never loads it (docs/benchmarks.md, idle RSS).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.default_request_handler_v2 import DefaultRequestHandlerV2
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.routes.rest_routes import create_rest_routes
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Router
from starlette.types import Message, Receive, Scope, Send

from toolwire.core.errors import ToolwireError
from toolwire.core.model import Principal
from toolwire.inbound.a2a import card, messages
from toolwire.inbound.a2a.events import StateEventStream
from toolwire.inbound.a2a.executor import GatewayExecutor, PrincipalUser
from toolwire.inbound.a2a.tasks import StateTaskStore
from toolwire.inbound.face import Face
from toolwire.inbound.http import (
    JSON,
    api_key_from,
    etag_of,
    json_response,
    none_match,
    read_body,
    row_for,
)
from toolwire.inbound.rest import CHALLENGE, authenticate, request_id, services

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
    rest: Router
    """The HTTP+JSON binding below `/a2a`: 1.0 paths (`/message:send`, `/tasks/{id}`, ...) and
    the 0.3 ones (`/v1/...`), by the SDK's REST dispatcher."""

    @staticmethod
    def of(request: Request) -> A2ADoor:
        """This app's door, built on its first use (`app.state.a2a_door`, None until then)."""
        state = request.app.state
        door: A2ADoor | None = state.a2a_door  # None from the lifespan until the first use
        if door is None:
            door = state.a2a_door = _build(services(request))
        return door

    @staticmethod
    def build(svc: Face) -> A2ADoor:
        """The door over `svc`: the SDK's request handler and both bindings."""
        return _build(svc)

    async def aclose(self) -> None:
        """Drain the handler's running tasks (the SDK's shutdown hook)."""
        await self.handler.aclose()


def _build(svc: Face) -> A2ADoor:
    handler = DefaultRequestHandlerV2(
        agent_executor=GatewayExecutor(svc.gateway, svc.state),
        task_store=StateTaskStore(svc.state, svc.settings.a2a_task_retention_s),
        # shared-stream mode: a task running here can be subscribed to from any instance
        event_stream=StateEventStream(svc.state, svc.settings.a2a_task_retention_s),
        agent_card=card.agent_card(svc.settings, None),
    )
    rpc = JsonRpcDispatcher(handler, _ContextBuilder(), enable_v0_3_compat=True)
    rest = create_rest_routes(handler, _ContextBuilder(), enable_v0_3_compat=True)
    # without the SDK's `/{tenant}` mount: toolwire serves no tenants
    return A2ADoor(handler, rpc, Router([r for r in rest if not isinstance(r, Mount)]))


def admission_error(error: ToolwireError, rid: str) -> Response:
    """A request refused before the handler: the table's HTTP status, a JSON-RPC error body."""
    row = row_for(messages.ADMISSION, type(error))
    headers = {"x-request-id": rid, **row.headers(error, CHALLENGE)}
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": messages.ADMISSION_RPC_CODE,
            "message": error.message,
            "data": error.to_dict(),
        },
    }
    return json_response(body, int(row.status), headers)


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


async def rest_binding(scope: Scope, receive: Receive, send: Send) -> None:
    """The HTTP+JSON binding (an ASGI app mounted at `/a2a`): admission, then the SDK's routes."""
    request = Request(scope, receive)
    rid = request_id(request)
    try:
        principal = await authenticate(request)
        body = await read_body(request, services(request).settings.max_body_bytes)
    except ToolwireError as exc:
        await admission_error(exc, rid)(scope, receive, send)
        return
    scope[_PRINCIPAL] = principal
    await A2ADoor.of(request).rest(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read given back once (then disconnects pass through)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


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
    body = orjson.dumps(agent_card_to_dict(card.agent_card(svc.settings, ops)))
    etag = etag_of(body)  # differs with the key's visible catalog: the card lists its tools
    headers = {
        "etag": etag,
        "cache-control": "private, max-age=60",
        "vary": "authorization, x-api-key",
        "x-request-id": rid,
    }
    if none_match(request, etag):
        return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=headers)
    return Response(body, media_type=JSON, headers=headers)
