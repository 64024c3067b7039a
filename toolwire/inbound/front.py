"""The gateway's ASGI application: Starlette, with the hot routes answered at the front.

Every request but one goes through Starlette's stack as before: its error middleware (the
`Exception` handler), `toolwire.inbound.middleware.Edge` (request id, body limit, CORS), its
exception middleware (the `ClientDisconnect` handler) and the router, which tries each route's
pattern in turn. That is six ASGI layers and a regular-expression match per request, a fifth of
a free call's CPU on the event-loop thread (docs/benchmarks.md, issue 10). The product's hot
paths, `POST /api/v1/execute` (`rest.FRONT`) and `/mcp` (`mcp.FRONT`), with no `Origin` header,
are recognised here by an exact comparison of the path and answered by their door directly:

- one pass over the request headers serves both `Edge`'s work (`middleware.enter`) and the
  door's (`FrontRoute.headers`);
- the answer is the same, byte for byte, as through the stack (the door-matrix suite runs both
  ways): the same handlers answer what escapes the door, taken from the application's own
  `exception_handlers` (`ClientDisconnect`: the client left mid-body; `Exception`: anything
  else, re-raised after the answer as Starlette's error middleware does, so the server logs it);
- a request with an `Origin` (a browser's: CORS), a mounted application (`root_path`) or any
  other method or path takes the stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from toolwire.core.context import bound
from toolwire.inbound.http import scope_headers
from toolwire.inbound.middleware import EDGE_HEADERS, enter

Handler = Callable[[Scope, Receive, Send, Mapping[bytes, str]], Awaitable[None]]
"""A fronted route's handler: the ASGI call, plus the request headers the front read for it."""


@dataclass(frozen=True, slots=True)
class FrontRoute:
    """A hot route answered at the front: for `methods` (None: every method), by `handler`,
    given the first value of each of `headers` (and of `EDGE_HEADERS`) the request carries."""

    methods: frozenset[str] | None
    headers: frozenset[bytes]
    handler: Handler


class GatewayApp(Starlette):
    """`Starlette` whose `__call__` answers its `fronted` routes itself (module docstring).

    `fronted`: exact path -> `FrontRoute`; `max_body_bytes`: the body limit `Edge` applies
    (`Settings.max_body_bytes`); the other arguments are Starlette's."""

    def __init__(
        self, *, max_body_bytes: int, fronted: Mapping[str, FrontRoute], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes
        self.fronted = dict(fronted)
        self._reads = {path: EDGE_HEADERS | route.headers for path, route in fronted.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.fronted.get(scope["path"]) if scope["type"] == "http" else None
        if (
            route is None
            or (route.methods is not None and scope["method"] not in route.methods)
            or scope.get("root_path")
        ):
            await super().__call__(scope, receive, send)
            return
        found = scope_headers(scope, self._reads[scope["path"]])
        if b"origin" in found:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        limited = enter(scope, receive, found, self.max_body_bytes)
        with bound(scope["state"]["request_id"]):
            try:
                await route.handler(scope, limited, send, found)
            except Exception as exc:
                await self._escaped(scope, receive, send, exc)

    async def _escaped(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """What escaped the door, answered by the application's handler for it (as Starlette's
        exception and error middleware would); anything but a client gone is re-raised."""
        request = Request(scope, receive)
        if isinstance(exc, ClientDisconnect):
            handler = self.exception_handlers.get(ClientDisconnect)
            if handler is None:
                raise exc
            response = await handler(request, exc)
            await response(scope, receive, send)
            return
        handler = self.exception_handlers.get(Exception)
        if handler is not None:
            response = await handler(request, exc)
            await response(scope, receive, send)
        raise exc
