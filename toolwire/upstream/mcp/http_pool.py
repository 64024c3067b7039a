"""The HTTP connection pool of an upstream MCP session: toolwire's lean HTTP/1.1 pool
(`upstream.http1.Http1Pool`, the HTTP adapter's), sized for the calls a pooled session runs at
once, with the SSRF check at connect time; under toolwire's Streamable HTTP transport as it is
(`lean_pool`, `streamable.StreamableHttp`), under the SDK's `httpx2` client (legacy HTTP+SSE) as
an httpx2 transport (`pooled_transport`, `http1_transport.Http1Transport`).

    pool = lean_pool(allow_private_networks=False, max_connections=68)
    transport = pooled_transport(allow_private_networks=False)
    client = httpx2.AsyncClient(transport=OriginGuard(transport, ...))   # transport.py

Why sized: one session's client carries every concurrent call to its upstream (one HTTP/1.1
connection per request in flight). httpx2's default keeps 20 connections alive, so with more
than 20 calls in flight every burst closed connections and opened new ones (docs/benchmarks.md,
federation). Here a session has as many connections as its upstream admits calls at once
(`connections_for`: the guard's `max_concurrency`, 64 by default, plus its standing requests), and
all of them may stay alive for `KEEPALIVE_EXPIRY_S`.

Why not httpx2's own pool (httpcore2; docs/benchmarks.md, federation, and
docs/design/mcp-federation.md): per request it wrote the head and the body in two `socket.send`
calls, scanned the pool and asked every idle connection whether the server closed it (a `poll()`
through anyio each, about 21 per request at c=32), and ran h11's event machinery. The lean pool
writes a request in one system call, takes an idle connection with a list pop (its readability
is three attribute reads on `upstream.sockets.AsyncioBackend`) and parses in C (httptools).

The SSRF check (unless `allow_private_networks`): `upstream.net.GuardedBackend`, the one guard of
every HTTP stack, as the pool's network backend: it resolves the host once per new connection,
requires every address to be public (`upstream.net.is_public`, an allow-list) and connects the
socket to exactly a checked address, so a DNS answer cannot change between the check and the
connect. TLS still names the host (SNI and certificate verification), not the address. A refused
host fails the request with a `PrivateAddress` (an `httpcore2.ConnectError`; under httpx2 an
`httpx2.ConnectError` with it as its cause), before any byte leaves.
"""

from __future__ import annotations

from typing import Any

import httpcore2
import httpx2

from toolwire.upstream.http1 import Http1Pool
from toolwire.upstream.mcp.http1_transport import Http1Transport
from toolwire.upstream.net import GuardedBackend
from toolwire.upstream.sockets import AsyncioBackend

MAX_CONNECTIONS = 100
"""Requests one session's client has in flight to its upstream, and connections kept alive, when
the upstream's concurrency cap is not known (`connections_for`)."""
STANDING_REQUESTS = 4
"""Requests a session has open besides its calls: the standing stream (`subscriptions/listen` or
the SSE GET), a ping, a list refresh, a cancellation."""
KEEPALIVE_EXPIRY_S = 4.0
"""Seconds an idle connection is kept: below the 5 s idle timeout of uvicorn's and Node's HTTP
servers (the usual MCP servers), so the client retires a connection before the server closes it
under a request."""


class PrivateAddress(httpcore2.ConnectError):
    """The upstream's host resolves to an address this upstream may not reach (httpx2 reports
    it as `httpx2.ConnectError` with this as its cause)."""


POOL_TIMEOUT_S = 30.0
"""Seconds a request waits for a free connection, and a connect may take (the SDK client's
timeout for everything but a read, `transport.HTTP_TIMEOUT_S`)."""


def connections_for(max_concurrency: object) -> int:
    """Connections for a session whose upstream admits `max_concurrency` calls at once (the
    health guard's cap, `upstream.health`): that many plus `STANDING_REQUESTS`, so no admitted
    call waits for a connection; `MAX_CONNECTIONS` when the cap is not an integer (unknown)."""
    if isinstance(max_concurrency, int) and max_concurrency > 0:
        return max_concurrency + STANDING_REQUESTS
    return MAX_CONNECTIONS


def lean_pool(
    *,
    allow_private_networks: bool,
    max_connections: int = MAX_CONNECTIONS,
    timeout: float = POOL_TIMEOUT_S,
) -> Http1Pool:
    """A lean pool of `max_connections` (all kept alive up to `KEEPALIVE_EXPIRY_S`; at most that
    many requests in flight, the next waits up to `timeout` seconds, then `PoolTimeout`),
    HTTP/1.1, httpx's default TLS context (certificates checked), and unless
    `allow_private_networks` the connect-time SSRF check. Transport errors are httpcore2's."""
    backend: Any = AsyncioBackend(errors=httpcore2)
    if not allow_private_networks:
        backend = GuardedBackend(backend, errors=httpcore2, refused=PrivateAddress)
    return Http1Pool(
        backend,
        max_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
        timeout=timeout,
    )


def pooled_transport(
    *,
    allow_private_networks: bool,
    max_connections: int = MAX_CONNECTIONS,
    timeout: float = POOL_TIMEOUT_S,
) -> httpx2.AsyncBaseTransport:
    """`lean_pool` as an httpx2 transport (httpx2's error classes: `httpx2.PoolTimeout`, ...),
    for the SDK's legacy HTTP+SSE client."""
    pool = lean_pool(
        allow_private_networks=allow_private_networks,
        max_connections=max_connections,
        timeout=timeout,
    )
    return Http1Transport(pool)
