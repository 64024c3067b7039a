"""Building the SDK client for one upstream session: stdio, Streamable HTTP or legacy HTTP+SSE.

    client = await build_client(spec, conn, creds, redactor, http)   # not entered yet

stdio: the command with the default safe environment of the SDK (PATH, HOME, ...), the catalog's
`env`, and `env_secrets` from the call's credentials; nothing of the gateway's own environment.
Streamable HTTP: toolwire's client transport (`streamable.StreamableHttp`) on toolwire's lean
HTTP/1.1 pool sized for concurrent calls (`http_pool.lean_pool`); it only ever sends to the
configured endpoint's origin. Legacy HTTP+SSE: the SDK's `sse_client` on an `httpx2` client whose
transport is `OriginGuard` over the same pool (`http_pool.pooled_transport`): a request that
carries a credential goes only to the upstream's own origin (the rule and the `Confinement` of
`upstream.http.origin`; the SSE endpoint names the POST URL). Either way, unless
`allow_private_networks`, a host that resolves to a non-public address is refused when a
connection is made (`upstream.net.GuardedBackend`, `upstream.net.is_public`). The auth headers
(static, bearer or basic from the vault, an OAuth client-credentials token) are computed with the
HTTP adapter's `Auth` classes and sent on every request of the session. The call's W3C trace
context (`InvokeContext.trace_headers`) rides on each request it makes (`OriginGuard` below, and
`StreamableHttp.send` by the same rule).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any

import httpx
import httpx2
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp_types import Implementation

from toolwire.upstream.http import HttpUpstream
from toolwire.upstream.http.origin import Confinement, origin_of
from toolwire.upstream.mcp.connection import TRACE_HEADERS, TRACE_KEYS, W3C, Connection
from toolwire.upstream.mcp.direct import DirectCalls
from toolwire.upstream.mcp.http_pool import MAX_CONNECTIONS, lean_pool, pooled_transport
from toolwire.upstream.mcp.spec import Http, McpSpec, Stdio
from toolwire.upstream.mcp.streamable import StreamableHttp
from toolwire.vault.redact import Redactor

HTTP_TIMEOUT_S = 30.0
STREAM_READ_TIMEOUT_S = 300.0


def _client_info() -> Implementation:
    try:
        own = version("toolwire")
    except PackageNotFoundError:
        own = "0"
    return Implementation(name="toolwire", version=own)


class CarriesCredential(httpx2.ConnectError):
    """A request with a credential was addressed to an origin that is not the upstream's."""


class OriginGuard(httpx2.AsyncBaseTransport):
    """Below the SDK's HTTP client: credentials stay on their origin; a 404 to a request carrying
    a session id is reported (the SDK hands the caller the server's error body, not the status).
    Private addresses are refused by the pool below, at connect time (`http_pool`).
    An event stream opened by a GET without `Last-Event-ID` after the session's first one is
    the handshake era's GET stream reopened with no replay (the SDK reconnects it by itself):
    reported (`Connection.reopened`), since what the upstream sent meanwhile is lost.
    The W3C trace context of the request (the SDK's client span, else the call's own,
    `connection.TRACE_HEADERS`) is added as `traceparent`/`tracestate` headers."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        confinement: Confinement,
        redactor: Redactor,
        on_session_lost: Callable[[], None] = lambda: None,
        on_reopened: Callable[[], None] = lambda: None,
    ) -> None:
        self.inner = inner
        self.confinement = confinement
        self.redactor = redactor
        self.on_session_lost = on_session_lost
        self.on_reopened = on_reopened
        self.streams_opened = 0
        """Event streams opened by a GET without `Last-Event-ID` on this session."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            target = origin_of(str(request.url))
        except (ValueError, httpx.InvalidURL):
            target = None
        if target is None or not self.confinement.is_home(target):
            texts = [str(request.url), *(v.decode("latin-1") for _, v in request.headers.raw)]
            if any(self.redactor.found_in(text) for text in texts):
                raise CarriesCredential("a credential may not leave its upstream's origin")
        carrier: dict[str, str] = {}
        W3C.inject(carrier)  # the current span: the SDK's client span of this request, if any
        for name in TRACE_KEYS:
            value = carrier.get(name) if carrier else TRACE_HEADERS.get().get(name)
            if value:
                request.headers[name] = value
        response = await self.inner.handle_async_request(request)
        if response.status_code == 404 and "mcp-session-id" in request.headers:
            self.on_session_lost()  # the server no longer knows the session (spec: re-initialise)
        elif (
            request.method == "GET"
            and response.status_code == 200
            and "last-event-id" not in request.headers
            and response.headers.get("content-type", "").startswith("text/event-stream")
        ):
            self.streams_opened += 1
            if self.streams_opened > 1:
                self.on_reopened()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Streams:
    """The SDK's legacy HTTP+SSE `Transport` over an HTTP client this session owns (closed with
    the session)."""

    def __init__(
        self, spec: Http, guard: httpx2.AsyncBaseTransport, headers: dict[str, str]
    ) -> None:
        self.spec = spec
        self.guard = guard
        self.headers = headers
        self._stack = contextlib.AsyncExitStack()

    def _client(self, *_: Any, **__: Any) -> httpx2.AsyncClient:
        return _http_client(self.spec, self.guard, self.headers)

    async def __aenter__(self) -> Any:
        await self._stack.__aenter__()
        try:
            return await self._stack.enter_async_context(
                sse_client(self.spec.url, httpx_client_factory=self._client)
            )
        except BaseException:
            await self._stack.__aexit__(None, None, None)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._stack.__aexit__(exc_type, exc, tb)

    def close(self) -> None:
        return None


def _http_client(
    spec: Http, transport: httpx2.AsyncBaseTransport, headers: Mapping[str, str]
) -> httpx2.AsyncClient:
    # identity, not httpx2's "gzip, deflate": answers here are streamed with no size cap, so a
    # decoded size could not be capped (docs/design/upstream-http-transport.md, "Content codings")
    return httpx2.AsyncClient(
        headers={"User-Agent": "toolwire", "Accept-Encoding": "identity", **headers},
        timeout=httpx2.Timeout(HTTP_TIMEOUT_S, read=STREAM_READ_TIMEOUT_S),
        transport=transport,
    )


async def auth_headers(http: HttpUpstream, url: str, creds: Mapping[str, str]) -> dict[str, str]:
    """The headers the upstream's auth puts on a request to `url` (an OAuth token is fetched
    through the HTTP adapter's guarded client and cached there)."""
    if http.auth is None:
        return {}
    probe = http.client.build_request("POST", url)
    before = set(probe.headers.keys())
    await http.auth.apply(http.client, probe, creds)
    return {k: v for k, v in probe.headers.items() if k not in before or k == "authorization"}


async def build_client(
    spec: McpSpec,
    conn: Connection,
    creds: Mapping[str, str],
    redactor: Redactor,
    http: HttpUpstream | None,
    max_connections: int = MAX_CONNECTIONS,
) -> Client:
    """The SDK client for one session of `spec` with these credential values (not entered).
    `max_connections`: HTTP connections the session may open and keep alive
    (`http_pool.connections_for` the upstream's concurrency cap)."""
    common: dict[str, Any] = {
        "mode": "legacy" if spec.era == "handshake" else "auto",
        "cache": None,
        "message_handler": conn.on_message,
        "logging_callback": conn.on_log,
        "sampling_callback": conn.on_sampling,
        "elicitation_callback": conn.on_elicitation,
        "list_roots_callback": conn.on_list_roots,
        "log_level": "debug",
        "client_info": _client_info(),
    }
    transport = spec.transport
    if isinstance(transport, Stdio):
        env = dict(transport.env)
        for var in transport.env_secrets:
            if f"env:{var}" in creds:
                env[var] = creds[f"env:{var}"]
        params = StdioServerParameters(
            command=transport.command, args=list(transport.args), env=env, cwd=transport.cwd
        )
        return Client(params, **common)
    headers = dict(transport.headers)
    if http is not None:
        headers.update(await auth_headers(http, transport.url, creds))
    if transport.transport == "streamable_http":
        pool = lean_pool(
            allow_private_networks=transport.allow_private_networks,
            max_connections=max_connections,
        )
        own = {"User-Agent": "toolwire", **headers}
        streamable = StreamableHttp(transport.url, pool, own, conn.lose_session, conn.reopened)
        conn.direct_for = lambda client: DirectCalls.of(client, streamable, conn.on_log)
        return Client(streamable, **common)
    token_url = transport.auth.token_url if transport.auth else None
    guard = OriginGuard(
        pooled_transport(
            allow_private_networks=transport.allow_private_networks,
            max_connections=max_connections,
        ),
        Confinement.of((transport.url, token_url or "")),
        redactor,
        conn.lose_session,
        conn.reopened,
    )
    return Client(_Streams(transport, guard, headers), **common)
