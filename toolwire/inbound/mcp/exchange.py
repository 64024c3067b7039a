"""One HTTP exchange with the MCP door, as every HTTP endpoint (`/mcp`, `/sse`, `/messages`)
starts it: the request, the app's services and MCP runtime, what the client accepts, and
`refuse()` for a typed refusal raised before anything was sent (`refusals.TRANSPORT`).

What this is not: admission (`security.admit`) or any protocol handling (`kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from toolwire.core.errors import ToolwireError
from toolwire.inbound.face import Face
from toolwire.inbound.http import IndexedRequest
from toolwire.inbound.mcp import media, refusals
from toolwire.inbound.mcp.jsonrpc import RequestId
from toolwire.inbound.mcp.runtime import Runtime, runtime_of


@dataclass(slots=True)
class Exchange:
    """Treated as immutable; not frozen, as one is made per request (a frozen `__init__` costs
    three times as much: docs/design/hot-path-front.md)."""

    request: Request
    send: Send
    services: Face
    runtime: Runtime
    accepts: media.Accepts

    @classmethod
    def start(cls, scope: Scope, receive: Receive, send: Send) -> Exchange:
        request = IndexedRequest(scope, receive)  # a dozen header reads: one index
        app = scope["app"]
        accepts = media.accepts(request.headers.get("accept"))
        return cls(request, send, app.state.services, runtime_of(app), accepts)

    async def refuse(self, error: ToolwireError, rid: RequestId | None = None) -> None:
        await refusals.refuse(self.send, error, self.services, accepts=self.accepts, rid=rid)
