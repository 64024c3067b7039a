"""The transport under every HTTP/OpenAPI upstream: two ways into the upstream, on one network
backend (and so one SSRF guard).

- `fetch(request, limit)`: what the HTTP adapter calls per tool call. The request (an
  `httpx.Request` the adapter built: URL, headers, bytes body) goes to `Http1Pool`
  (`toolwire.upstream.http1`: a keep-alive pool per origin and httptools' C parser), and the
  answer comes back whole, at most `limit` bytes, as `(status, headers, body)`. No httpx client,
  auth flow, cookie jar, redirect loop or `httpx.Response` on the way.
- `handle_async_request(request)`: the `httpx.AsyncBaseTransport` interface, for the
  `httpx.AsyncClient` that fetches OAuth tokens (and tests), on httpcore2's
  `AsyncConnectionPool` (the httpx2 stack the mcp SDK already uses; h11 framing) built with the
  pool's documented `network_backend=` argument. Keep-alive = the connection limit.

Errors are httpx's either way (`ConnectError`, `ReadTimeout`, `RemoteProtocolError`,
`LocalProtocolError`...: httpcore2's mapped by `ERRORS`), so `toolwire.upstream.errors.from_httpx`
maps them as before. Why a lean path of our own for the tool call, and not httpcore2's pool with
h11 (which the first step of issue 14 used): the profile in docs/design/upstream-http-transport.md.

The backend (`toolwire.upstream.sockets.AsyncioBackend`, wrapped by the SSRF guard
`toolwire.upstream.net.GuardedBackend` unless the upstream allows private networks) is toolwire's:
it pins each connection to an address the guard checked, sets TCP_NODELAY, and answers "did the
server close this idle connection?" without a system call.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpcore2
import httpx
import httpx2

KEEPALIVE_EXPIRY_S = 4.0
"""Seconds an idle connection stays in the pool: below the 5 s idle timeout of uvicorn's, Node's
and Apache's servers, so the pool retires a connection before such a server closes it under a
request (a POST caught that way fails: it is never sent twice; `http1` module docstring)."""

ErrorRow = tuple[type[Exception], type[httpx.TransportError], type[httpx2.TransportError]]
"""(httpcore2's class, httpx's, httpx2's) of one transport error."""
ERRORS: tuple[ErrorRow, ...] = (
    # most specific first: each library's classes share bases (ConnectTimeout is a TimeoutException)
    (httpcore2.ConnectTimeout, httpx.ConnectTimeout, httpx2.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx.ReadTimeout, httpx2.ReadTimeout),
    (httpcore2.WriteTimeout, httpx.WriteTimeout, httpx2.WriteTimeout),
    (httpcore2.PoolTimeout, httpx.PoolTimeout, httpx2.PoolTimeout),
    (httpcore2.TimeoutException, httpx.TimeoutException, httpx2.TimeoutException),
    (httpcore2.ConnectError, httpx.ConnectError, httpx2.ConnectError),
    (httpcore2.ReadError, httpx.ReadError, httpx2.ReadError),
    (httpcore2.WriteError, httpx.WriteError, httpx2.WriteError),
    (httpcore2.NetworkError, httpx.NetworkError, httpx2.NetworkError),
    (httpcore2.RemoteProtocolError, httpx.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpcore2.LocalProtocolError, httpx.LocalProtocolError, httpx2.LocalProtocolError),
    (httpcore2.ProtocolError, httpx.ProtocolError, httpx2.ProtocolError),
    (httpcore2.UnsupportedProtocol, httpx.UnsupportedProtocol, httpx2.UnsupportedProtocol),
)
"""One row per transport error, the class of that name in each library: httpcore2's (what the
sockets and httpcore2's pool raise), httpx's (what the HTTP adapter's path raises, as httpx's own
transport maps httpcore's; `as_httpx`) and httpx2's (what the MCP SDK's client is given,
`upstream.mcp.http1_transport`)."""


class TooLarge(Exception):
    """The answer's body is longer than the caller's limit (declared or as read)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the answer (status {status}) is over the size limit")
        self.status = status


class Undecodable(Exception):
    """The answer's body has a content coding that is not decoded here (only gzip is), or its
    gzip data is corrupt or cut short."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the answer (status {status}) has a body that cannot be decoded")
        self.status = status


def as_httpx(exc: Exception, request: httpx.Request) -> Exception:
    """The httpx exception for an httpcore2 one (the same message); other exceptions unchanged."""
    for core, mapped, _ in ERRORS:
        if isinstance(exc, core):
            return mapped(str(exc), request=request)
    return exc


def _timeouts(request: httpx.Request, default: float | None) -> dict[str, float | None]:
    given: Any = request.extensions.get("timeout")
    if isinstance(given, dict):
        return given
    return {"connect": default, "read": default, "write": default, "pool": default}


def _core_request(
    request: httpx.Request, content: bytes | Any, timeout: float | None
) -> httpcore2.Request:
    url = request.url
    return httpcore2.Request(
        method=request.method,
        url=httpcore2.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        headers=request.headers.raw,
        content=content,
        extensions={"timeout": _timeouts(request, timeout)},
    )


class PooledTransport(httpx.AsyncBaseTransport):
    """See the module docstring. `backend`: an httpcore2-compatible network backend (its
    exceptions httpcore2's: `AsyncioBackend(errors=httpcore2)`, optionally guarded). `timeout`:
    seconds for connect, read, write and the pool wait of `fetch`, unless the request's
    `extensions["timeout"]` says otherwise."""

    def __init__(
        self,
        backend: Any,
        *,
        max_connections: int,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = None,
    ) -> None:
        from toolwire.upstream.http1 import Http1Pool  # it imports this module's errors

        self.timeout = timeout
        self.lean = Http1Pool(
            backend,
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            ssl_context=ssl_context,
            timeout=timeout,
        )
        self.pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=backend,
        )

    async def fetch(
        self, request: httpx.Request, limit: int, *, idempotent: bool | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """Send `request` (its body already in memory: `request.content`) and read the whole
        answer, on the lean HTTP/1.1 pool (`toolwire.upstream.http1.Http1Pool`, same backend).
        Returns (status, headers, body), a gzip body decoded. Raises `TooLarge` when the body,
        decoded, is over `limit` bytes (a declared Content-Length over it is refused before
        reading), `Undecodable` for another content coding or a corrupt gzip body, httpx's
        transport errors otherwise. `idempotent`: `Http1Pool.fetch`'s (may it be sent again
        after a reused connection failed under it)."""
        return await self.lean.fetch(request, limit, idempotent=idempotent)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        try:
            response = await self.pool.handle_async_request(
                _core_request(request, request.stream, self.timeout)
            )
        except Exception as exc:
            mapped = as_httpx(exc, request)
            if mapped is exc:
                raise
            raise mapped from None
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.lean.aclose()
        await self.pool.aclose()


class _Stream(httpx.AsyncByteStream):
    """An httpcore2 response body as an httpx stream, its errors mapped to httpx's."""

    def __init__(self, response: httpcore2.Response, request: httpx.Request) -> None:
        self.response = response
        self.request = request

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self.response.aiter_stream():
                yield chunk
        except Exception as exc:
            mapped = as_httpx(exc, self.request)
            if mapped is exc:
                raise
            raise mapped from None

    async def aclose(self) -> None:
        await self.response.aclose()
