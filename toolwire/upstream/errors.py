"""Foreign exceptions from upstreams, translated once into the core's error tree.

    httpx.TimeoutException            -> UpstreamTimeout   (connect, read, write, pool)
    BlockedAddress (SSRF guard)        -> Forbidden         reason "private_address"
    ForeignOrigin (credential guard)   -> Forbidden         reason "foreign_origin"
    httpx.ConnectError                 -> UpstreamError     reason "unreachable"
    httpx.RemoteProtocolError/ReadError-> UpstreamError     reason "connection_reset"
    any other httpx.HTTPError          -> UpstreamError     reason "transport"
    an HTTP 3xx (never followed)       -> UpstreamError     reason "redirect", with the status
    an HTTP 429                        -> RateLimited       reason "upstream_rate_limited"
    an HTTP status >= 400              -> UpstreamError     reason "http_status", with the status
    a body that is not JSON / too big  -> UpstreamError     reason "not_json" / "too_large"
    (decoded) / in a coding not decoded, or corrupt gzip:               / "undecodable"

A `Retry-After` (RFC 9110 §10.2.3: seconds or an HTTP-date) on a 429 or 503 becomes
`details.retry_after_s`, whole seconds, which each door shows in its own form (REST: the
`Retry-After` header).

What it is: the one place those mappings live, most specific first. Messages name the upstream and
never carry a URL (a query string may hold a key), a raw error body, or a secret; details hold the
provider's status and a machine-readable reason. What it is not: retry policy (`upstream.http`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from toolwire.core.errors import Forbidden, RateLimited, UpstreamError, UpstreamTimeout
from toolwire.upstream.http.origin import ForeignOrigin, Origin, show
from toolwire.upstream.net import BlockedAddress

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER_S = 86_400
"""A longer delay is reported as one day: an upstream's number is not trusted to be sane."""


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def foreign_origin(upstream: str, target: Origin | None) -> Forbidden:
    """A URL built from the arguments leaves `upstream`'s origin while credentials would go."""
    details: dict[str, Any] = {"upstream": upstream, "reason": "foreign_origin"}
    if target is not None:
        details["origin"] = show(target)
    return Forbidden(
        f"{upstream}'s credentials go only to its own origin; this URL leaves it",
        details=details,
    )


def from_httpx(upstream: str, exc: httpx.HTTPError) -> UpstreamError | Forbidden:
    """The core error for a transport failure talking to `upstream`."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(
            f"{upstream} did not answer in time", details=_details(upstream, "timeout")
        )
    if _caused_by(exc, ForeignOrigin):
        return foreign_origin(upstream, None)
    if _caused_by(exc, BlockedAddress):
        return Forbidden(
            "the address is not reachable from this gateway (private or reserved network)",
            details={"reason": "private_address"},
        )
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(
            f"{upstream} is unreachable", details=_details(upstream, "unreachable")
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return UpstreamError(
            f"{upstream} closed the connection", details=_details(upstream, "connection_reset")
        )
    return UpstreamError(f"{upstream} failed", details=_details(upstream, "transport"))


def from_status(
    upstream: str, status: int, message: str | None = None, retry_after: str | None = None
) -> UpstreamError | RateLimited:
    """A provider answered with an error status. `message` is the provider's own short message,
    already picked by the spec's error mapping and scrubbed of secrets; `retry_after` is its
    `Retry-After` header, if any."""
    reason = "upstream_rate_limited" if status == 429 else "http_status"
    details = _details(upstream, reason, status=status)
    if message:
        details["provider_message"] = message[:300]
    details["retryable"] = status in RETRYABLE_STATUS
    delay = retry_after_seconds(retry_after)
    if delay is not None and status in (429, 503):
        details["retry_after_s"] = delay
    if status == 429:
        return RateLimited(f"{upstream} is rate limiting this gateway", details=details)
    return UpstreamError(f"{upstream} answered HTTP {status}", details=details)


def redirect(upstream: str, status: int) -> UpstreamError:
    """An upstream API that redirects is reported, not followed (its `Location` may point
    anywhere, and may carry what it was sent)."""
    return UpstreamError(
        f"{upstream} answered with a redirect (HTTP {status}), which is not followed",
        details=_details(upstream, "redirect", status=status),
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """`Retry-After` as whole seconds from now (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date), at most `MAX_RETRY_AFTER_S`; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return min(int(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0, min(math.ceil(seconds), MAX_RETRY_AFTER_S))


def bad_body(upstream: str, reason: str, status: int) -> UpstreamError:
    what = {
        "not_json": "a body that is not JSON",
        "too_large": "a body over the size limit",
        "undecodable": "a body it sent compressed in a way that cannot be decoded",
    }
    return UpstreamError(
        f"{upstream} answered with {what.get(reason, 'an unusable body')}",
        details=_details(upstream, reason, status=status),
    )


def _details(upstream: str, reason: str, **more: Any) -> dict[str, Any]:
    return {"upstream": upstream, "reason": reason, **more}
