"""The declarative HTTP adapter: an `HttpUpstream` (one pooled client, its auth, its limits) and
one `HttpOperation` per catalog operation, which builds, sends and maps a request.

A call: build the request from the arguments (`request.py`) -> inject the credentials
(`auth.py`) -> send, retrying idempotent operations on timeouts, resets and 429/502/503/504 with
exponential backoff, honouring a `Retry-After` up to `MAX_BACKOFF_S` (a longer one fails the call
at once with the delay), and once after a 401 when an OAuth token can be refreshed) -> read at most
`max_response_bytes` -> refuse a redirect -> decode JSON (bad characters become U+FFFD) -> map
with the operation's JMESPath. Errors leave as the core's
`UpstreamError`/`UpstreamTimeout`/`Forbidden` (see `toolwire.upstream.errors`); results and error
messages are scrubbed of every secret the redactor knows and of this call's credentials.

What it is not: billing, policy, or the catalog file format (`toolwire.config`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from jmespath.parser import ParsedResult

from toolwire.core.catalog import Operation
from toolwire.core.errors import InvalidArguments, ToolwireError, UpstreamError
from toolwire.core.ports import InvokeContext
from toolwire.upstream import errors
from toolwire.upstream.health import HealthPolicy, UpstreamHealth
from toolwire.upstream.http.injection import Auth, AuthSpec, make_auth
from toolwire.upstream.http.origin import Confinement, CredentialGuard, origin_of
from toolwire.upstream.http.request import Built, RequestBuilder
from toolwire.upstream.http1 import IDEMPOTENT_METHODS
from toolwire.upstream.net import make_client, make_transport
from toolwire.upstream.text import load_json
from toolwire.upstream.transport import PooledTransport, TooLarge, Undecodable
from toolwire.vault.redact import Redactor

DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_BACKOFF_S = 5.0
URL_CACHE_SIZE = 256
"""Parsed URLs an upstream keeps (`HttpUpstream.parsed`); the cache is emptied when full."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods httpx gives `Content-Length: 0` when they carry no body (`Request._prepare`)."""


@dataclass(frozen=True)
class Retries:
    attempts: int = 1
    """Total tries (1 = no retry). Only idempotent operations are ever retried."""
    backoff: float = 0.2
    """First delay in seconds; doubled each time, with full jitter."""


@dataclass(frozen=True)
class UpstreamSpec:
    """One HTTP upstream as the catalog declares it."""

    name: str
    base_url: str = ""
    auth: AuthSpec | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    retries: Retries = Retries()
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    allow_private_networks: bool = False
    allow_foreign_origins: tuple[str, ...] = ()
    """Origins (or "*") a URL built from arguments may reach *without* credentials."""
    health: HealthPolicy = field(default_factory=HealthPolicy)
    """Circuit breaker and concurrency cap (`toolwire.upstream.health`)."""


class HttpUpstream:
    """The shared part of every operation of one upstream: its client and its auth."""

    def __init__(
        self, spec: UpstreamSpec, redactor: Redactor, health: UpstreamHealth | None = None
    ) -> None:
        self.spec = spec
        self.redactor = redactor
        self.health = health or UpstreamHealth(spec.name, "http", spec.health)
        self.auth: Auth | None = make_auth(spec.auth, redactor, spec.name)
        token_url = spec.auth.token_url if spec.auth else None
        self.confinement = Confinement.of(
            (spec.base_url, token_url or ""), spec.allow_foreign_origins
        )
        # gzip offered: `Http1Pool.fetch` decodes it under the size cap (of the decoded body)
        self.base_headers = httpx.Headers(
            {"User-Agent": "toolwire", "Accept-Encoding": "gzip", **spec.headers}
        )
        # What `call_headers` makes when the call adds no header and no trace context: the same
        # every call, so made once (with, without a JSON body).
        self._fixed_headers = (
            self._merged_headers({}, None, json_body=False),
            self._merged_headers({}, None, json_body=True),
        )
        self._urls: dict[str, httpx.URL] = {}
        self._transport: PooledTransport | None = None
        self._guard: CredentialGuard | None = None
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    @property
    def credentials(self) -> dict[str, str]:
        return self.spec.auth.slots if self.spec.auth else {}

    @property
    def guard(self) -> CredentialGuard:
        """The upstream's pool behind its `CredentialGuard`: what every call goes through.
        Created on first use (inside the running loop), then reused for every call."""
        if self._guard is None:
            self._transport = make_transport(
                timeout=self.spec.timeout, allow_private_networks=self.spec.allow_private_networks
            )
            self._guard = CredentialGuard(self._transport, self.confinement, self.redactor)
        return self._guard

    @property
    def client(self) -> httpx.AsyncClient:
        """An httpx client over the same guarded pool, for what is not a tool call (the OAuth
        token fetch). Created on first use, then reused."""
        if self._client is None:
            guard = self.guard
            self._client = make_client(
                timeout=self.spec.timeout,
                headers=dict(self.base_headers),
                transport=guard.inner,
                guard=lambda _: guard,
            )
        return self._client

    async def aclose(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        guard, self._guard, self._transport = self._guard, None, None
        if client is not None:
            await client.aclose()  # closes the shared pool too
        elif guard is not None:
            await guard.aclose()

    def url(self, built_url: str) -> str:
        if built_url.startswith(("http://", "https://")):
            return built_url
        return self.spec.base_url.rstrip("/") + "/" + built_url.lstrip("/")

    def parsed(self, url: str) -> httpx.URL:
        """`httpx.URL(url)`, parsed once per distinct URL (an `httpx.URL` is immutable, and the
        same string always parses to the same URL). Raises `httpx.InvalidURL`."""
        found = self._urls.get(url)
        if found is None:
            found = httpx.URL(url)
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = found
        return found

    def call_headers(
        self, added: Mapping[str, str], trace: Mapping[str, str] | None, *, json_body: bool
    ) -> httpx.Headers:
        """The upstream's headers, then the call's (`added`, then `trace`; each replaces one
        of the same name), `Content-Type: application/json` with a body and `Accept:
        application/json` unless already given. Not to be changed: it may be a shared one."""
        if not added and not trace:
            return self._fixed_headers[json_body]
        return self._merged_headers(added, trace, json_body=json_body)

    def _merged_headers(
        self, added: Mapping[str, str], trace: Mapping[str, str] | None, *, json_body: bool
    ) -> httpx.Headers:
        headers = self.base_headers.copy()
        headers.update(added)
        if trace:
            headers.update(trace)
        if json_body:
            headers["Content-Type"] = "application/json"
        headers.setdefault("Accept", "application/json")
        return headers

    async def send(
        self,
        method: str,
        built: Built,
        creds: Mapping[str, str],
        *,
        idempotent: bool,
        trace: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """Send with auth and retries, under the upstream's breaker and concurrency cap (fails
        fast with UPSTREAM_ERROR, reason "circuit_open" or "upstream_busy"); returns (status,
        headers, body) of the final answer. A 5xx answer counts against the breaker. `trace`:
        the call's W3C trace-context headers (`InvokeContext.trace_headers`), sent with every
        attempt."""
        async with self.health.guard() as attempt:
            answer = await self._send(method, built, creds, idempotent=idempotent, trace=trace)
            if answer[0] >= 500:
                attempt.failed(f"http_status {answer[0]}")
            return answer

    async def _send(
        self,
        method: str,
        built: Built,
        creds: Mapping[str, str],
        *,
        idempotent: bool,
        trace: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        attempts = self.spec.retries.attempts if idempotent else 1
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                status, headers, body = await self._once(method, built, creds, idempotent, trace)
            except httpx.HTTPError as exc:
                error = errors.from_httpx(self.spec.name, exc)
                if attempt >= attempts or not isinstance(error, UpstreamError):
                    raise error from None
                await asyncio.sleep(self._delay(attempt, None) or 0.0)
                continue
            if status == 401 and self.auth and not refreshed and self.auth.invalidate(creds):
                refreshed = True
                continue
            if status in errors.RETRYABLE_STATUS and attempt < attempts:
                delay = self._delay(attempt, headers.get("retry-after"))
                if delay is not None:  # a longer wait is the caller's to decide: not retried
                    await asyncio.sleep(delay)
                    continue
            return status, headers, body

    async def _once(
        self,
        method: str,
        built: Built,
        creds: Mapping[str, str],
        idempotent: bool,
        trace: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        guard = self.guard
        content = orjson.dumps(built.body) if built.has_body else None
        headers = self.call_headers(built.headers, trace, json_body=content is not None)
        try:
            url = self.parsed(self.url(built.url))
            if built.query:
                # httpx replaces a URL's own query with `params`: keep both (a `next` link's cursor)
                url = httpx.URL(url, params=[*url.params.multi_items(), *built.query])
        except httpx.InvalidURL:
            raise InvalidArguments("the URL built from the arguments is not valid") from None
        # The request goes straight to the guarded pool (`PooledTransport.fetch`), not through
        # an httpx client: no auth flow, cookie jar, redirect loop or Response object per call.
        request = json_request(method, url, headers, content)
        if self.auth is not None and self._credentials_go_to(request.url):
            await self.auth.apply(self.client, request, creds)
        try:
            return await guard.fetch(request, self.spec.max_response_bytes, idempotent=idempotent)
        except TooLarge as exc:
            raise errors.bad_body(self.spec.name, "too_large", exc.status) from None
        except Undecodable as exc:
            raise errors.bad_body(self.spec.name, "undecodable", exc.status) from None

    def _credentials_go_to(self, url: httpx.URL) -> bool:
        """True for the upstream's own origin; False for a foreign origin the operator allowed
        (the request goes without credentials); else the call is refused. `CredentialGuard`
        enforces the same rule under the client, whatever this says."""
        try:
            target = origin_of(url)
        except ValueError:
            target = None
        if target is not None and self.confinement.is_home(target):
            return True
        if target is not None and self.confinement.allows_without_credentials(target):
            return False
        raise errors.foreign_origin(self.spec.name, target)

    def _delay(self, attempt: int, retry_after: str | None) -> float | None:
        """Seconds to wait before retry `attempt + 1`: exponential backoff with full jitter, at
        least what `Retry-After` asks; None when that is over `MAX_BACKOFF_S` (the call then
        fails at once with RATE_LIMITED or UPSTREAM_ERROR carrying `retry_after_s`)."""
        delay = random.uniform(0, self.spec.retries.backoff * 2 ** (attempt - 1))
        asked = errors.retry_after_seconds(retry_after)
        if asked is not None:
            if asked > MAX_BACKOFF_S:
                return None
            delay = max(delay, float(asked))
        return min(delay, MAX_BACKOFF_S)


def json_request(
    method: str, url: httpx.URL, headers: httpx.Headers, content: bytes | None
) -> httpx.Request:
    """`httpx.Request(method, url, headers=headers, content=content)`, the same request (method,
    URL, headers in the same order, body read), made without httpx's content encoding pass:
    `Host` and `Content-Length` are added as `Request._prepare` adds them.
    `tests/upstream/test_http_request_lean.py` holds the two side by side."""
    method = method.upper()
    body = content or b""
    raw = headers.raw
    if body and "Content-Length" not in headers:
        raw = [*raw, (b"Content-Length", b"%d" % len(body))]  # httpx's `setdefault`: appended
    auto: list[tuple[bytes, bytes]] = []
    if "Host" not in headers and url.host:
        auto.append((b"Host", url.netloc))
    if (
        not body
        and method in BODY_METHODS
        and "Content-Length" not in headers
        and "Transfer-Encoding" not in headers
    ):
        auto.append((b"Content-Length", b"0"))
    request = httpx.Request(method, url, headers=auto + raw, stream=httpx.ByteStream(body))
    request.read()
    return request


@dataclass
class HttpOperation:
    """One operation over an `HttpUpstream`; implements `toolwire.core.ports.Adapter`."""

    upstream: HttpUpstream
    request: RequestBuilder
    response: ParsedResult | None = None
    response_envelope: bool = False
    """Evaluate `response` over {status, headers, body} instead of the body alone."""
    error_message: ParsedResult | None = None
    idempotent: bool | None = None

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.request.method in IDEMPOTENT_METHODS

    async def aclose(self) -> None:
        await self.upstream.aclose()

    async def invoke(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> Any:
        known = self.upstream.redactor
        fresh = [v for v in ctx.credentials.values() if v not in known]
        redactor = Redactor(fresh)  # values the shared redactor does not hold yet (BYOK)
        try:
            built = self.request.build(arguments)
            status, headers, body = await self.upstream.send(
                self.request.method,
                built,
                ctx.credentials,
                idempotent=self.is_idempotent,
                trace=ctx.trace_headers,
            )
            return self._scrub(redactor, self._result(redactor, status, headers, body))
        except ToolwireError as exc:
            exc.message = self._scrub(redactor, exc.message)
            exc.details = self._scrub(redactor, exc.details)
            exc.args = (exc.message,)
            raise

    def _scrub(self, call: Redactor, value: Any) -> Any:
        return call.scrub_obj(self.upstream.redactor.scrub_obj(value))

    def _result(
        self, redactor: Redactor, status: int, headers: Mapping[str, str], body: bytes
    ) -> Any:
        name = self.upstream.spec.name
        if 300 <= status < 400:
            raise errors.redirect(name, status)
        data: Any = None
        decoded = True
        if body.strip():
            try:
                data = load_json(body)
            except ValueError:
                decoded = False
        if status >= 400:
            message = self._message(data) if decoded else None
            # scrubbed before `from_status` cuts it short: a cut secret is no longer recognisable
            message = self._scrub(redactor, message) if message else None
            raise errors.from_status(name, status, message, headers.get("retry-after"))
        if not decoded:
            raise errors.bad_body(name, "not_json", status)
        if self.response is None:
            return data
        source = data
        if self.response_envelope:
            source = {"status": status, "headers": dict(headers), "body": data}
        return self.response.search(source)

    def _message(self, data: Any) -> str | None:
        if self.error_message is None or data is None:
            return None
        found = self.error_message.search(data)
        return found if isinstance(found, str) else None
