"""The transport under every upstream's `httpx.AsyncClient`: httpcore's own connection pool on
toolwire's network backend.

What it is: `PooledTransport`, an `httpx.AsyncBaseTransport` around `httpcore.AsyncConnectionPool`
(httpx's own stack: its pool, h11 for HTTP/1.1 framing and parsing) built with the pool's
documented `network_backend=` argument, which httpx's `AsyncHTTPTransport` does not expose. It
maps the request, the response and httpcore's exceptions exactly as `httpx.AsyncHTTPTransport`
does (its `map_httpcore_exceptions` and response stream are reused, so errors are httpx's:
`ConnectError`, `ReadTimeout`, `RemoteProtocolError`, `LocalProtocolError`...). Keep-alive: every
connection the pool may open may stay open (`max_keepalive_connections = max_connections`); a
lower keep-alive limit closed and reopened a connection per call above it.

The backend (`toolwire.upstream.sockets.AsyncioBackend`, wrapped by the SSRF guard
`toolwire.upstream.net.GuardedBackend` unless the upstream allows private networks) is toolwire's:
it pins each connection to an address the guard checked, sets TCP_NODELAY, and answers the
pool's per-request "did the server close this idle connection?" without a system call.

What it is not: our own HTTP code. No framing, parsing or pooling here (see
docs/design/upstream-http-transport.md for what the library costs and why we pay it).
"""

from __future__ import annotations

import ssl

import httpcore
import httpx
from httpx._transports.default import AsyncResponseStream, map_httpcore_exceptions

KEEPALIVE_EXPIRY_S = 5.0
"""Seconds an idle connection stays in the pool (httpx's default)."""


class PooledTransport(httpx.AsyncBaseTransport):
    """See the module docstring. `backend` is any `httpcore.AsyncNetworkBackend`."""

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        *,
        max_connections: int,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with map_httpcore_exceptions():
            response = await self.pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=AsyncResponseStream(response.stream),  # type: ignore[arg-type]
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()
