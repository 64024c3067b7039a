"""CORS for every route: Starlette's `CORSMiddleware`, fed by the one origin allow-list.

Installed always (not only when origins are listed), because the default allow-list is not
empty: loopback origins and the public URL's own origin are allowed (`inbound.origins`). For an
allowed origin:

- a preflight (`OPTIONS` + `Access-Control-Request-Method`) is answered here, before routing and
  without a key, allowing the methods and request headers the doors read: `Authorization`,
  `X-API-Key`, `Content-Type`, `Accept`, `Idempotency-Key`, and the MCP headers
  (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Last-Event-ID`, and
  any `Mcp-Param-{Name}` whose name is an RFC 9110 token);
- Private Network Access preflights (a public page calling a gateway on loopback or the LAN)
  are allowed, for allowed origins only;
- a response exposes the headers a browser client must read: `Mcp-Session-Id`,
  `MCP-Protocol-Version`, `X-Request-Id`, `WWW-Authenticate`, `Retry-After`.

Any other origin's preflight gets Starlette's 400 "Disallowed CORS origin"; the MCP door
refuses its requests with 403. Credentials mode stays off: the only cookie, the web console's
session (`inbound.console.session`), is same-site and same-origin, and no other origin may read
an answer sent with it.

What this is not: authentication or the MCP Origin check itself (`mcp.security`).
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from toolwire.inbound import origins
from toolwire.settings import Settings

ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOW_HEADERS = (  # besides Starlette's CORS-safelisted Accept, Content-Type, *-Language
    "authorization",
    "x-api-key",
    "idempotency-key",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
)
EXPOSE_HEADERS = (
    "mcp-session-id",
    "mcp-protocol-version",
    "x-request-id",
    "www-authenticate",
    "retry-after",
)
MCP_PARAM = re.compile(r"mcp-param-[!#$%&'*+\-.^_`|~0-9a-z]+")
"""`Mcp-Param-{Name}` request headers (2026-07-28 `x-mcp-header`), lower-cased."""
REQUEST_HEADERS = "access-control-request-headers"


class Cors(CORSMiddleware):
    """`CORSMiddleware` whose origin test is `origins.allowed` and which allows `Mcp-Param-*`."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(
            app,
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            expose_headers=EXPOSE_HEADERS,
            allow_private_network=True,  # a listed public page may reach a gateway on loopback
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Requests without an `Origin` (every non-browser client: the hot path) pass untouched;
        CORS has nothing to say to them."""
        if scope["type"] == "http" and not any(k == b"origin" for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def is_allowed_origin(self, origin: str) -> bool:
        return origins.allowed(origin, self.settings)

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's preflight, with each requested `Mcp-Param-*` header allowed too."""
        requested = [h.strip().lower() for h in request_headers.get(REQUEST_HEADERS, "").split(",")]
        params = [h for h in requested if MCP_PARAM.fullmatch(h)]
        if not params:
            return super().preflight_response(request_headers)
        others = ", ".join(h for h in requested if h and h not in params)
        raw = [(k, v) for k, v in request_headers.raw if k.lower() != REQUEST_HEADERS.encode()]
        if others:
            raw.append((REQUEST_HEADERS.encode(), others.encode()))
        response = super().preflight_response(Headers(raw=raw))
        if response.status_code == 200:
            listed = response.headers.get("access-control-allow-headers", "")
            response.headers["access-control-allow-headers"] = ", ".join([listed, *params])
        return response
