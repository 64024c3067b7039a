"""Credential confinement: an upstream's credentials go only to that upstream's own origin.

What it is: `origin_of` (the origin a URL really connects to, RFC 6454 §4: scheme, host, port,
compared the way httpx will connect: IDNA-encoded, lower-case, without a trailing dot, with the
scheme's default port, after userinfo and any `\\`/`@` trick is parsed away), `Confinement` (an
upstream's own origins, from `base_url` and the OAuth `token_url`, and the foreign origins the
operator allowed for credential-less requests), and `CredentialGuard`, an httpx transport under
every upstream client that refuses any request to a foreign origin carrying a value the redactor
knows in any form, in its URL, headers or body. The guard sits below the adapter: no URL template,
`{+name}` expansion, absolute `path` or redirect can get a credential past it.

What it is not: the SSRF guard (`toolwire.upstream.net`, which decides which *addresses* may be
reached at all), or a policy on which foreign origins a tool may fetch without credentials.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from toolwire.upstream.transport import PooledTransport
from toolwire.vault.redact import Redactor

Origin = tuple[str, str, int]
"""(scheme, host, port), normalised by `origin_of`."""

DEFAULT_PORTS = {"http": 80, "https": 443}
ANY = "*"


class ForeignOrigin(httpx.TransportError):
    """A request carrying a credential was addressed to an origin that is not the upstream's."""


def origin_of(url: str | httpx.URL) -> Origin:
    """The origin httpx connects to for `url`. Raises `httpx.InvalidURL` for a malformed URL and
    `ValueError` for a scheme other than http/https."""
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    scheme = parsed.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: scheme {scheme!r}")
    host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    return scheme, host, parsed.port or DEFAULT_PORTS[scheme]


def show(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if DEFAULT_PORTS[scheme] == port else f":{port}")


@dataclass(frozen=True)
class Confinement:
    """Where one upstream's credentials may go (`home`), and where a request built from call-time
    arguments may go without them (`foreign`; `ANY` in the list allows every origin)."""

    home: frozenset[Origin]
    foreign: frozenset[Origin] = frozenset()
    any_foreign: bool = False

    @classmethod
    def of(cls, own: Iterable[str], allow_foreign: Iterable[str] = ()) -> Confinement:
        """From the upstream's own URLs (`base_url`, `token_url`; empty ones skipped) and its
        `allow_foreign_origins` list. Raises `ValueError` for a URL that has no origin."""
        home = frozenset(origin_of(url) for url in own if url)
        allowed = list(allow_foreign)
        foreign = frozenset(origin_of(url) for url in allowed if url != ANY)
        return cls(home, foreign, ANY in allowed)

    def is_home(self, origin: Origin) -> bool:
        return origin in self.home

    def allows_without_credentials(self, origin: Origin) -> bool:
        return self.any_foreign or origin in self.foreign


class CredentialGuard(httpx.AsyncBaseTransport):
    """Refuses, before a byte is sent, a request to a foreign origin that carries a credential.
    Both ways into the pool pass it: `handle_async_request` (an httpx client's) and `fetch`
    (the HTTP adapter's per-call path, `PooledTransport.fetch`)."""

    def __init__(
        self, inner: PooledTransport, confinement: Confinement, redactor: Redactor
    ) -> None:
        self.inner = inner
        self.confinement = confinement
        self.redactor = redactor

    def check(self, request: httpx.Request) -> None:
        """Raises `ForeignOrigin` when `request` leaves the upstream's origins with a credential."""
        try:
            target = origin_of(request.url)
        except ValueError:
            target = None
        if (target is None or not self.confinement.is_home(target)) and self.carries_credential(
            request
        ):
            raise ForeignOrigin("a credential may not leave its upstream's origin", request=request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.check(request)
        return await self.inner.handle_async_request(request)

    async def fetch(
        self, request: httpx.Request, limit: int, *, idempotent: bool | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """`PooledTransport.fetch` after the check above (same arguments, returns and errors,
        plus `ForeignOrigin`)."""
        self.check(request)
        return await self.inner.fetch(request, limit, idempotent=idempotent)

    def carries_credential(self, request: httpx.Request) -> bool:
        """True when a known secret, in any form, is in the URL, a header or the body."""
        texts = [str(request.url), *(v.decode("latin-1") for _, v in request.headers.raw)]
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body: it cannot be checked, so it is refused
            return True
        texts.append(body.decode("utf-8", "replace"))
        return any(self.redactor.found_in(text) for text in texts)

    async def aclose(self) -> None:
        await self.inner.aclose()
