"""Outbound connections: one pooled `httpx.AsyncClient` per upstream, guarded against SSRF.

What it is: `make_client()`, which builds an upstream's client whose connections go through
`GuardedBackend`: every host is resolved once, *every* resolved address must be globally routable
(`is_public`, an allow-list: global unicast only, and any IPv4 address embedded in an IPv6 one,
IPv4-mapped, NAT64, 6to4 or ISATAP, public too), and the socket then connects to a checked
address, so a DNS answer cannot change between the check and the connect. The guard sits at
the socket, so it covers redirects and URLs built from call-time arguments alike.
`allow_private_networks=True` (per upstream, in the catalog) turns it off for internal services
and for tests. What it is not: a proxy, or an allow-list of hosts (credentials are confined to
their upstream's origin by `toolwire.upstream.http.origin`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import ModuleType
from typing import Any

import httpcore
import httpcore2
import httpx

from toolwire.upstream.sockets import AsyncioBackend
from toolwire.upstream.transport import PooledTransport

DEFAULT_MAX_CONNECTIONS = 100


class BlockedAddress(httpcore.ConnectError, httpcore2.ConnectError):
    """The host resolves to an address the upstream may not reach. A `ConnectError` of both
    httpcores, so whichever pool the guard serves treats it as a failed connect."""


GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
"""RFC 4291 §2.4: the only IPv6 space an upstream address may come from (plus NAT64, below)."""
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052 well-known prefix: the packet goes to the IPv4 address in the low 32 bits."""
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
NOT_GLOBAL: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        # IANA special-purpose registries, entries not globally reachable, that not every Python
        # version's `is_global` knows (RFC 6890 and updates).
        "192.0.0.0/24",  # IETF protocol assignments (.9 and .10 are anycast services)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, ORCHID, benchmarking
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)


def is_public(address: str) -> bool:
    """True only for a globally reachable unicast address (an allow-list): IPv4 per
    `ipaddress.is_global` and the IANA registry; IPv6 only from global unicast 2000::/3, and
    an IPv4 address embedded in it (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16, ISATAP
    interface ids) must itself be public. Everything else (IPv4-compatible ::/96, the local NAT64
    prefix 64:ff9b:1::/48, Teredo, site-local, ULA, multicast, documentation) is refused."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _global(ip)
    if ip.ipv4_mapped is not None:
        return _global(ip.ipv4_mapped)
    if ip in NAT64:
        return _global(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip not in GLOBAL_UNICAST or not _global(ip):
        return False
    embedded = embedded_ipv4(ip)
    return embedded is None or _global(embedded)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a transition mechanism will deliver to: 6to4 (RFC 3056) or an ISATAP
    interface id `[02]00:5efe:a.b.c.d` (RFC 5214 §6.1)."""
    if ip in SIX_TO_FOUR:
        return ip.sixtofour
    if (int(ip) >> 32) & 0xFDFFFFFF == 0x00005EFE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_private:
        return False
    return not any(ip in net for net in NOT_GLOBAL if net.version == ip.version)


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
    """Connects only to public addresses, to one of the addresses it checked. One guard for both
    HTTP stacks: httpx's (`httpcore`, the default) and the mcp SDK's (`httpcore2`, whose pool
    duck-types its backend): `inner` is that stack's backend, `errors` its module (whose
    `ConnectError` a pool catches by class) and `refused` the `ConnectError` subclass raised for
    a non-public address."""

    def __init__(
        self,
        inner: Any,
        *,
        errors: ModuleType = httpcore,
        refused: type[Exception] = BlockedAddress,
    ) -> None:
        self.inner = inner  # httpcore's or httpcore2's AsyncNetworkBackend (the same interface)
        self.errors = errors
        self.refused = refused

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
            raise self.errors.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        if not addresses or not all(is_public(a) for a in addresses):
            raise self.refused(f"{host} resolves to a non-public address")
        stream: httpcore.AsyncNetworkStream = await self.inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise self.refused("unix sockets are not reachable upstreams")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def make_transport(
    *,
    timeout: float | None,
    allow_private_networks: bool = False,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> PooledTransport:
    """An upstream's transport (`toolwire.upstream.transport.PooledTransport`: the lean
    HTTP/1.1 pool for tool calls, httpcore2's pool for its httpx client) on the asyncio backend,
    behind `GuardedBackend` unless `allow_private_networks`. Every connection it opens may stay
    open for the next call: a keep-alive limit below the connection limit closed and reopened a
    connection per call above it (at c=32 with 20 kept, throughput fell as concurrency rose)."""
    backend: Any = AsyncioBackend(errors=httpcore2, coalesce=True)
    if not allow_private_networks:
        backend = GuardedBackend(backend, errors=httpcore2)
    return PooledTransport(backend, max_connections=max_connections, timeout=timeout)


def make_client(
    *,
    timeout: float,
    allow_private_networks: bool = False,
    headers: dict[str, str] | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    guard: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An upstream's pooled client. Redirects are not followed: an upstream API that redirects is
    reported, not chased to wherever it points. Cookies an upstream sets are not kept: the client
    is shared by every caller. `guard` wraps the transport (the HTTP adapter's
    `CredentialGuard`), so every request the client sends passes it. `transport`: an existing
    pool to share (the HTTP adapter's), else a new one (`make_transport`)."""
    if transport is None:
        transport = make_transport(
            timeout=timeout,
            allow_private_networks=allow_private_networks,
            max_connections=max_connections,
        )
    client = httpx.AsyncClient(
        transport=guard(transport) if guard is not None else transport,
        timeout=httpx.Timeout(timeout),
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )
    # One client serves every caller: a cookie one caller's call was given must not ride along
    # on the next caller's (httpx keeps a jar per client). httpx has no switch for it; the jar
    # below refuses every cookie and skips parsing them (4% of an HTTP tool call's CPU).
    client._cookies = _NoCookies()
    return client


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: `Set-Cookie` answers are not even parsed."""

    def __init__(self) -> None:
        super().__init__(CookieJar(DefaultCookiePolicy(allowed_domains=[])))

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return None
