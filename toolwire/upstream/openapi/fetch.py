"""Fetching an OpenAPI document by URL, under the same SSRF rules as upstream calls.

What it is: `fetch_spec(url)`, a one-off synchronous GET (catalog building is synchronous) whose
socket goes only to addresses `toolwire.upstream.net.is_public` accepts, checked after resolution
and connected to as checked, as `net.GuardedBackend` does for upstream calls. Redirects are not
followed: a 3xx is an error naming where it pointed, so a public URL cannot hand the fetch to a
private one (give the final URL instead). The body is capped at `MAX_SPEC_BYTES` while it
streams in, and each read and the whole download at `FETCH_TIMEOUT_S`. `allow_private_networks`
(the import's own setting, as for its upstream) lifts the address check for internal hosts and
tests. What it is not: the parsing (`document.py`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from toolwire.upstream.net import is_public

FETCH_TIMEOUT_S = 30.0
MAX_SPEC_BYTES = 64 * 1024 * 1024


class FetchError(Exception):
    """The document could not be fetched; the message says why, without the response body."""


def _addresses(host: str, port: int) -> list[str]:
    literal = host.strip("[]")
    infos = socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedSyncBackend(httpcore.NetworkBackend):
    """Connects only to public addresses, to one of the addresses it checked."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        if not addresses or not all(is_public(a) for a in addresses):
            raise httpcore.ConnectError(f"{host} resolves to a non-public address")
        return self.inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _client(allow_private_networks: bool) -> httpx.Client:
    transport = httpx.HTTPTransport()
    if not allow_private_networks:
        pool = transport._pool  # as in toolwire.upstream.net.make_client
        pool._network_backend = _GuardedSyncBackend(pool._network_backend)
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(FETCH_TIMEOUT_S),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "toolwire", "Accept": "application/json, application/yaml"},
    )


def fetch_spec(url: str, *, allow_private_networks: bool = False) -> str:
    """The text of the document at `url` (decoded as the response says, UTF-8 by default).
    Raises `FetchError`: blocked or unreachable host, timeout, redirect, non-2xx status, or a
    body over `MAX_SPEC_BYTES`."""
    deadline = time.monotonic() + FETCH_TIMEOUT_S
    try:
        with (
            _client(allow_private_networks) as client,
            client.stream("GET", url) as response,
        ):
            if response.is_redirect:
                where = response.headers.get("location", "?")
                raise FetchError(f"redirected to {where} (redirects are not followed)")
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_SPEC_BYTES:
                    raise FetchError(f"larger than {MAX_SPEC_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"took longer than {FETCH_TIMEOUT_S:.0f} s")
                chunks.append(chunk)
            encoding = response.charset_encoding or "utf-8"
            return b"".join(chunks).decode(encoding, errors="replace")
    except httpx.HTTPError as exc:
        raise FetchError(f"{exc.__class__.__name__}: {exc}") from None
