"""An `httpx2` transport on toolwire's lean HTTP/1.1 pool (`upstream.http1.Http1Pool`), under
the MCP SDK's own client (`streamable_http_client`, `sse_client`), which keeps all of MCP.

    transport = Http1Transport(Http1Pool(backend, max_connections=68, timeout=30.0))
    client = httpx2.AsyncClient(transport=OriginGuard(transport, ...))   # transport.py

Why (docs/benchmarks.md, federation): under httpcore2's pool a `tools/call` paid a scan of the
pool per request (with a readability probe per idle connection) and h11's event machinery; the
lean pool writes a request in one system call, parses the answer in C (httptools) and takes an
idle connection with a list pop. Every answer is streamed (`Http1Pool.open`): an MCP POST may be
answered with JSON or with server-sent events carrying progress, logs and server-to-client
requests before its result, and the GET stream and `subscriptions/listen` stay open for the
session's life, so nothing waits for a whole body.

What it is: one method, `handle_async_request`: the request (its body read into memory: the SDK
sends JSON) as `request_head` + body, its answer as an `httpx2.Response` whose stream reads the
body as it arrives. Timeouts: the request's `read` (the SDK's client sets 300 s for streams)
for each read and write, the pool's for the wait and the connect. Errors: httpx2's classes of the
same names as the pool's (httpcore2's from the sockets, httpx's from the parser), the original
as `__cause__` (the SSRF guard's `PrivateAddress` stays visible there).

A request a kept connection was closed under, before any byte of its answer, is sent once more
on a new connection only when its method is idempotent (`http1.IDEMPOTENT_METHODS`: the GET
stream and the session's DELETE, never a POST such as a `tools/call`; `Http1Pool`, "Retried
once"). An answer with a content coding is refused (`RemoteProtocolError`): the session's client
asks for identity (`transport._http_client`), as nothing here caps a decoded size.

What it is not: the SSRF guard (the pool's backend, `http_pool.pooled_transport`), the
credential and trace rules (`transport.OriginGuard` above it), HTTP/2 or a proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NoReturn, cast

import httpx
import httpx2

from toolwire.upstream.http1 import (
    DEFAULT_PORTS,
    IDEMPOTENT_METHODS,
    Http1Pool,
    Key,
    Streamed,
    request_head,
)
from toolwire.upstream.transport import ERRORS

TO_HTTPX2 = tuple(((core, ours), theirs) for core, ours, theirs in ERRORS)
"""(httpcore2's class, httpx's class of the same name) -> httpx2's class raised for them: the rows
of `upstream.transport.ERRORS`, most specific first."""


def _raise_as_httpx2(exc: Exception, request: httpx2.Request) -> NoReturn:
    for sources, mapped in TO_HTTPX2:
        if isinstance(exc, sources):
            raise mapped(str(exc), request=request) from exc
    raise exc


class _Body(httpx2.AsyncByteStream):
    def __init__(self, streamed: Streamed, request: httpx2.Request) -> None:
        self.streamed = streamed
        self.request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.streamed.chunks():
                yield chunk
        except Exception as exc:
            _raise_as_httpx2(exc, self.request)

    async def aclose(self) -> None:
        await self.streamed.aclose()


class Http1Transport(httpx2.AsyncBaseTransport):
    """See the module docstring. `pool`: the lean pool this transport owns (closed with it)."""

    def __init__(self, pool: Http1Pool) -> None:
        self.pool = pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.raw_scheme
        try:
            # request_head reads what httpx's and httpx2's requests share (method, url, headers)
            head = request_head(cast(httpx.Request, request))
            key: Key = (scheme, url.raw_host, url.port or DEFAULT_PORTS.get(scheme, 0))
            data = head + await request.aread()
            method = request.method
            streamed = await self.pool.open(
                key,
                data,
                head_only=method == "HEAD",
                idempotent=method in IDEMPOTENT_METHODS,
                timeout=_read_timeout(request),
            )
        except Exception as exc:
            _raise_as_httpx2(exc, request)
        return httpx2.Response(
            streamed.status,
            headers=streamed.headers,
            stream=_Body(streamed, request),
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


def _read_timeout(request: httpx2.Request) -> float | None:
    given: Any = request.extensions.get("timeout")
    if isinstance(given, dict):
        read = given.get("read")
        return float(read) if isinstance(read, int | float) else None
    return None
