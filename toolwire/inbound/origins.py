"""The one browser-origin allow-list, shared by CORS (every route) and the MCP door's Origin
check (DNS-rebinding protection), so the two can never disagree.

An origin (`scheme://host[:port]`, RFC 6454) is allowed when it is:

- a loopback origin (`localhost`, `127.0.0.1`, `[::1]`, any port): local tools and dev servers;
- this gateway's own public origin (`TOOLWIRE_PUBLIC_URL`, or the listen address);
- listed in `TOOLWIRE_CORS_ORIGINS` (`TOOLWIRE_ALLOWED_ORIGINS` is an alias merged into it);
  `*` there allows every origin (the Origin check is then off: keys still apply).

Only `http` and `https` origins are ever allowed (`null`, `file://`, extensions are not).

What this is not: authentication. An allowed origin still needs a key on every request.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from toolwire.settings import Settings

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def hostname(netloc: str) -> str:
    """The host part of `host[:port]` (IPv6 literals keep their brackets), lower-cased."""
    host = netloc.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def normalized(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def public_origin(settings: Settings) -> str:
    public = urlsplit(settings.base_url)
    return f"{public.scheme}://{public.netloc}".lower()


def allowed(origin: str, settings: Settings) -> bool:
    """Whether a browser page from `origin` (an `Origin` header value) may talk to us."""
    value = normalized(origin)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if hostname(parts.netloc) in LOOPBACK_HOSTS or value == public_origin(settings):
        return True
    listed = {normalized(o) for o in settings.cors_origins}
    return "*" in listed or value in listed


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Host names a loopback-bound gateway answers to: loopback, the public URL's host and the
    listed origins' hosts. Computed once per (public URL, origins) pair: every MCP request asks."""
    return _allowed_hosts(settings.base_url, tuple(settings.cors_origins))


@functools.lru_cache(maxsize=64)
def _allowed_hosts(base_url: str, cors_origins: tuple[str, ...]) -> frozenset[str]:
    hosts = set(LOOPBACK_HOSTS) | {(urlsplit(base_url).hostname or "").lower()}
    hosts |= {(urlsplit(normalized(o)).hostname or "").lower() for o in cors_origins}
    return frozenset(hosts)
