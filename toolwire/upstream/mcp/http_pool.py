"""The HTTP connection pool under the MCP SDK's `httpx2` client: httpx2's own transport
(httpcore2), sized for the calls a pooled session runs at once, on toolwire's asyncio sockets
(`upstream.sockets.AsyncioBackend`, coalescing), with the SSRF check at connect time.

    transport = pooled_transport(allow_private_networks=False)
    client = httpx2.AsyncClient(transport=OriginGuard(transport, ...))   # transport.py

Why sized: one session's client carries every concurrent call to its upstream (one HTTP/1.1
connection per request in flight). httpx2's default keeps 20 connections alive, so with more
than 20 calls in flight every burst closed connections and opened new ones (docs/benchmarks.md,
federation). Here a session has as many connections as its upstream admits calls at once
(`connections_for`: the guard's `max_concurrency`, 64 by default, plus its standing requests), and
all of them may stay alive for `KEEPALIVE_EXPIRY_S`.

Why toolwire's sockets (docs/benchmarks.md, federation): httpcore2's own backend goes through
anyio and writes a request's head and body in two `socket.send` calls, and its pool asks every
idle connection on every request whether the server closed it, a `poll()` system call each through
anyio (about 21 per request at c=32). `AsyncioBackend(errors=httpcore2, coalesce=True)` writes a
request in one system call and answers that question from its protocol's state (three attribute
reads); it raises httpcore2's exception classes, which httpcore2's pool catches by class. It is
the backend the HTTP adapter's pool already runs on (`upstream.net.make_transport`).

The SSRF check (unless `allow_private_networks`): `upstream.net.GuardedBackend`, the one guard of
both HTTP stacks, in httpcore2's `network_backend` hook: it resolves the host once per new
connection, requires every address to be public (`upstream.net.is_public`, an allow-list) and
connects the socket to exactly a checked address, so a DNS answer cannot change between the check
and the connect. TLS still names the host: httpcore2 passes the URL's host as SNI and for
certificate verification, not the address. A refused host fails the request with
`httpx2.ConnectError` ("... resolves to a non-public address"), before any byte leaves.
"""

from __future__ import annotations

from typing import Any

import httpcore2
import httpx2

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


def connections_for(max_concurrency: object) -> int:
    """Connections for a session whose upstream admits `max_concurrency` calls at once (the
    health guard's cap, `upstream.health`): that many plus `STANDING_REQUESTS`, so no admitted
    call waits for a connection; `MAX_CONNECTIONS` when the cap is not an integer (unknown)."""
    if isinstance(max_concurrency, int) and max_concurrency > 0:
        return max_concurrency + STANDING_REQUESTS
    return MAX_CONNECTIONS


def pooled_transport(
    *, allow_private_networks: bool, max_connections: int = MAX_CONNECTIONS
) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport with a pool of `max_connections` (all kept alive up to
    `KEEPALIVE_EXPIRY_S`), HTTP/1.1, httpx2's default TLS context (certificates checked), on
    `AsyncioBackend` (one write per request), and unless `allow_private_networks` the
    connect-time SSRF check."""
    limits = httpx2.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    transport = httpx2.AsyncHTTPTransport(limits=limits)
    # httpx2 has no public hook for the network backend; its pool (httpcore2) has one. As in
    # `upstream.net.make_client`; tests/upstream/mcp/test_http_pool.py fails if it moves.
    pool = transport._pool
    assert isinstance(pool, httpcore2.AsyncConnectionPool)
    backend: Any = AsyncioBackend(errors=httpcore2, coalesce=True)  # duck-typed by httpcore2
    if not allow_private_networks:
        backend = GuardedBackend(backend, errors=httpcore2, refused=PrivateAddress)
    pool._network_backend = backend
    return transport
