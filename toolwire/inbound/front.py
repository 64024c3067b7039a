"""The gateway's ASGI application: Starlette, with `POST /api/v1/execute` answered at the front.

Every request but one goes through Starlette's stack as before: its error middleware (the
`Exception` handler), `toolwire.inbound.middleware.Edge` (request id, body limit, CORS), its
exception middleware (the `ClientDisconnect` handler) and the router, which tries each route's
pattern in turn. That is six ASGI layers and a regular-expression match per request, a fifth of
a free call's CPU on the event-loop thread (docs/benchmarks.md, issue 10). The one request that
is the product's hot path, a `POST` to `/api/v1/execute` with no `Origin` header, is recognised
here by an exact comparison and answered by `rest.answer_execute` directly:

- one pass over the request headers serves both `Edge`'s work (`middleware.enter`) and the REST
  door's (`rest.EXECUTE_HEADERS`);
- the answer is the same, byte for byte, as through the stack (the door-matrix suite runs both
  ways): the same handlers answer what escapes the door, taken from the application's own
  `exception_handlers` (`ClientDisconnect`: the client left mid-body; `Exception`: anything
  else, re-raised after the answer as Starlette's error middleware does, so the server logs it);
- a request with an `Origin` (a browser's: CORS), a mounted application (`root_path`) or any
  other method or path takes the stack.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from toolwire.core.context import bound
from toolwire.inbound import rest
from toolwire.inbound.http import scope_headers
from toolwire.inbound.middleware import EDGE_HEADERS, enter

EXECUTE_PATH = "/api/v1/execute"
FRONT_HEADERS = EDGE_HEADERS | rest.EXECUTE_HEADERS
"""What the front reads in its one pass over the headers."""


class GatewayApp(Starlette):
    """`Starlette` whose `__call__` answers `POST /api/v1/execute` itself (module docstring).

    `max_body_bytes`: the body limit `Edge` applies (`Settings.max_body_bytes`); the other
    arguments are Starlette's."""

    def __init__(self, *, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != EXECUTE_PATH
            or scope["method"] != "POST"
            or scope.get("root_path")
        ):
            await super().__call__(scope, receive, send)
            return
        found = scope_headers(scope, FRONT_HEADERS)
        if b"origin" in found:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        limited = enter(scope, receive, found, self.max_body_bytes)
        with bound(scope["state"]["request_id"]):
            try:
                await rest.answer_execute(scope, limited, send, found)
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
