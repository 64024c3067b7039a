"""Outbound connections: one pooled `httpx.AsyncClient` per upstream, guarded against SSRF.

What it is: `make_client()`, which builds an upstream's client whose connections go through
`GuardedBackend`: every host is resolved once, *every* resolved address must be globally routable
(no loopback, private, link-local, CGNAT, multicast or reserved ranges, IPv4-mapped forms
included), and the socket then connects to a checked address, so a DNS answer cannot change
between the check and the connect. The guard sits at the socket, so it covers redirects and URLs
built from call-time arguments alike. `allow_private_networks=True` (per upstream, in the catalog)
turns it off for internal services and for tests. What it is not: a proxy or an allow-list of
hosts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_KEEPALIVE = 20


class BlockedAddress(httpcore.ConnectError):
    """The host resolves to an address the upstream may not reach."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself, with no lookup)."""
    literal = host.strip("[]")
    try:
        return [str(ipaddress.ip_address(literal))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(literal, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses, to one of the addresses it checked."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        if not addresses or not all(is_public(a) for a in addresses):
            raise BlockedAddress(f"{host} resolves to a non-public address")
        return await self.inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not reachable upstreams")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def make_client(
    *,
    timeout: float,
    allow_private_networks: bool = False,
    headers: dict[str, str] | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    guard: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
) -> httpx.AsyncClient:
    """An upstream's pooled client. Redirects are not followed: an upstream API that redirects is
    reported, not chased to wherever it points. `guard` wraps the transport (the HTTP adapter's
    `CredentialGuard`), so every request the client sends passes it."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=DEFAULT_KEEPALIVE
    )
    transport = httpx.AsyncHTTPTransport(limits=limits)
    if not allow_private_networks:
        # httpx has no public hook for the network backend; its pool (httpcore) does. The SSRF
        # tests fail if a new httpx moves this.
        pool = transport._pool
        pool._network_backend = GuardedBackend(pool._network_backend)
    return httpx.AsyncClient(
        transport=guard(transport) if guard is not None else transport,
        timeout=httpx.Timeout(timeout),
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )
