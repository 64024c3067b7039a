"""`McpUpstream`: one federated MCP server, as an operation source and as the adapter of every
operation it serves.

    upstream = McpUpstream(spec, redactor)
    await upstream.start(gateway.catalog_changed, vault.get, wait_s=10)
    upstream.operations()        # (ToolSpec(name=spec.name, operations=...),) once discovered
    await upstream.invoke(op, arguments, ctx)   # -> ToolResult; UpstreamError on failure

Sessions: one pool per distinct set of credential values. The platform's pool (the vault's
values, read at start) is started at once and kept: it discovers the tools (at start, on
`notifications/tools/list_changed`, after every reconnect) and serves calls made on the
platform's credentials. A call on the caller's own credentials (BYOK, `ctx.credentials` differs)
gets a pool of its own, opened on first use and closed after `idle_timeout` seconds unused (at
most `MAX_POOLS` of them). A session is never per call or per client session.

Failures leave as `UpstreamError` with `details.reason`: `unavailable` (down or reconnecting past
`connect_timeout`), `connection_lost` (the process died or the stream closed mid-call; the pool
restarts it), `mcp_error` (the upstream answered a JSON-RPC error: its code, and its message cut
to 300 characters and scrubbed), `malformed` (a result that does not parse), `too_large`, and the
guard's `circuit_open` / `concurrency_limit`. An HTTP session the upstream no longer knows (404,
"Session terminated") is re-initialised and the call sent once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from toolwire.core.catalog import Operation, ToolSpec
from toolwire.core.errors import ToolwireError, UpstreamError
from toolwire.core.federated import (
    ContentKind,
    ListChanged,
    Updated,
    prompt_name,
    resource_uri,
)
from toolwire.core.ports import CatalogChanged, Channel, InvokeContext, SecretLookup
from toolwire.upstream.health import Health
from toolwire.upstream.http import HttpUpstream, UpstreamSpec
from toolwire.upstream.mcp.connection import CallSink, Connection, Hooks, is_connection_lost
from toolwire.upstream.mcp.discovery import operations
from toolwire.upstream.mcp.guard import UpstreamGuard
from toolwire.upstream.mcp.http_pool import connections_for
from toolwire.upstream.mcp.pool import Pool
from toolwire.upstream.mcp.results import to_result
from toolwire.upstream.mcp.spec import Http, McpSpec, Stdio
from toolwire.upstream.mcp.transport import build_client
from toolwire.vault.redact import Redactor

log = logging.getLogger("toolwire.upstream.mcp")

MAX_POOLS = 32
"""Credential sets (the platform's and callers' own) with sessions open at once, per upstream."""
MAX_PAGES = 100
MAX_ERROR_MESSAGE = 300


def _digest(creds: Mapping[str, str]) -> str:
    if not creds:
        return NO_CREDENTIALS
    material = orjson.dumps(sorted(creds.items()))
    return hashlib.blake2b(material, digest_size=16).hexdigest()


NO_CREDENTIALS = hashlib.blake2b(b"[]", digest_size=16).hexdigest()
"""The pool key of a call with no credential values (most calls: computed once)."""
NO_SECRETS = Redactor()
"""The redactor of a call that brings no secret of its own (never added to)."""


def _signature(tools: Sequence[ToolSpec]) -> bytes:
    return orjson.dumps(
        [
            [op.name, op.definition, op.price, op.description]
            for tool in tools
            for op in tool.operations
        ],
        option=orjson.OPT_SORT_KEYS,
    )


class SourceCalls:
    """The adapter a federated server's operations carry: `invoke` goes to the server, and
    `aclose` does nothing. The server's sessions belong to the source (`McpUpstream.aclose`,
    from the catalog plan at shutdown), never to a catalog: a swap that drops the server's tools
    for a moment (a reconnect, a reload) retires that catalog without stopping the server."""

    def __init__(self, source: McpUpstream) -> None:
        self._source = source

    async def invoke(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> Any:
        return await self._source.invoke(operation, arguments, ctx)

    async def aclose(self) -> None:
        return None


class McpUpstream:
    """Implements `core.ports.OperationSource` and `core.ports.Adapter`."""

    def __init__(
        self, spec: McpSpec, redactor: Redactor, guard: UpstreamGuard | None = None
    ) -> None:
        self.name = spec.name
        self.calls = SourceCalls(self)
        """The adapter its operations carry (closing is this source's, not a catalog's)."""
        self.spec = spec
        self.redactor = redactor
        self.guard: UpstreamGuard = guard or Health(spec.name)
        self.http: HttpUpstream | None = None
        transport = spec.transport
        if isinstance(transport, Http) and transport.auth is not None:
            self.http = HttpUpstream(
                UpstreamSpec(
                    spec.name,
                    base_url=transport.url,
                    auth=transport.auth,
                    allow_private_networks=transport.allow_private_networks,
                ),
                redactor,
            )
        self._tools: tuple[ToolSpec, ...] = ()
        self.skipped: list[str] = []
        self._pools: dict[str, Pool] = {}
        self._platform: str | None = None
        self._changed: CatalogChanged | None = None
        self._discovered = asyncio.Event()
        self._relist: asyncio.Task[None] | None = None
        self._relist_again = False
        self._janitor: asyncio.Task[None] | None = None
        self._closed = False
        self._updated: Updated | None = None
        self._lists_changed: ListChanged | None = None
        self._subscribers: dict[str, set[str]] = {}
        """The upstream's own resource URIs subscribed on the platform session, and who holds
        each (client sessions); renewed on every reconnect."""

    # -- OperationSource ----------------------------------------------------------------------

    def operations(self) -> Sequence[ToolSpec]:
        return self._tools

    async def start(self, changed: CatalogChanged, secrets: SecretLookup, wait_s: float) -> None:
        self._changed = changed
        creds: dict[str, str] = {}
        for slot, secret in self.spec.credentials.items():
            value = await secrets(secret)
            if value:
                creds[slot] = value
        pool = self._pool(creds, platform=True)
        pool.start()
        self._janitor = asyncio.create_task(self._reap_forever(), name=f"mcp-reap-{self.name}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._discovered.wait()

    def status(self) -> dict[str, Any]:
        platform = self._pools.get(self._platform or "")
        transport = self.spec.transport
        kind = "stdio" if isinstance(transport, Stdio) else transport.transport
        version = None
        if platform is not None and platform.primary is not None:
            client = platform.primary.client
            version = client.protocol_version if client is not None else None
        return {
            "name": self.name,
            "kind": "mcp",
            "transport": kind,
            "state": platform.state if platform is not None else "stopped",
            "protocol_version": version,
            "tools": sum(len(t.operations) for t in self._tools),
            "skipped": len(self.skipped),
            "processes": sum(p.processes for p in self._pools.values()),
            "restarts": sum(p.restarts for p in self._pools.values()),
            **self.guard.status(),
            "last_error": (platform.last_error if platform else None)
            or self.guard.status().get("last_error"),
        }

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in (self._janitor, self._relist):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
        if self.http is not None:
            await self.http.aclose()

    # -- sessions ---------------------------------------------------------------------------

    def _pool(self, creds: Mapping[str, str], *, platform: bool = False) -> Pool:
        key = _digest(creds)
        frozen = dict(creds)
        hooks = (
            Hooks(
                tools_changed=self._tools_changed,
                resource_updated=self._resource_updated,
                content_changed=self._content_changed,
                missed=self._missed,
            )
            if platform
            else Hooks()
        )
        limits = self.spec.limits
        connections = connections_for(self.guard.status().get("max_concurrency"))

        def make() -> Connection:
            return Connection(
                self.name,
                lambda conn: build_client(
                    self.spec, conn, frozen, self.redactor, self.http, connections
                ),
                hooks,
                ping_interval=limits.ping_interval,
            )

        pool = Pool(
            self.name,
            make,
            size=self.spec.transport.processes,
            idle_timeout=self.spec.transport.idle_timeout,
            limits=limits,
            on_connected=self._connected if platform else None,
        )
        self._pools[key] = pool
        if platform:
            self._platform = key
        return pool

    async def _pool_for(self, creds: Mapping[str, str]) -> Pool:
        pool = self._pools.get(_digest(creds))
        if pool is not None:
            return pool
        if len(self._pools) >= MAX_POOLS:
            idle = [(p.idle_for, k) for k, p in self._pools.items() if k != self._platform]
            idle = [(for_s, k) for for_s, k in idle if for_s]
            if not idle:
                raise UpstreamError(
                    f"{self.name} has sessions open for {MAX_POOLS} credentials; try again",
                    details={"upstream": self.name, "reason": "unavailable"},
                )
            _, key = max(idle)
            await self._pools.pop(key).aclose()
        pool = self._pool(creds)
        pool.start()
        return pool

    async def _reap_forever(self) -> None:
        interval = max(1.0, min(30.0, self.spec.transport.idle_timeout / 2))
        while True:
            await asyncio.sleep(interval)
            for key, pool in list(self._pools.items()):
                if key != self._platform and pool.idle_for > pool.idle_timeout:
                    del self._pools[key]
                    await pool.aclose()
                else:
                    await pool.reap()

    # -- discovery --------------------------------------------------------------------------

    async def _connected(self, conn: Connection) -> None:
        """A fresh platform session: discover its tools, renew the resource subscriptions."""
        await self._discover(conn)
        if self._subscribers:
            try:
                await conn.subscribe(*self._subscribers)
            except Exception as exc:
                log.warning("MCP upstream %s: subscribing again failed: %s", self.name, exc)

    async def _discover(self, conn: Connection) -> None:
        """List the tools on a fresh platform session; tell the gateway when they changed."""
        listed = await conn.list_tools(MAX_PAGES)
        raw = [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in listed]
        ops, self.skipped = operations(self.spec, raw, self.calls)
        tools: tuple[ToolSpec, ...] = ()
        if ops:
            tools = (
                ToolSpec(
                    self.name,
                    f"Tools of the MCP server {self.name!r}",
                    tuple(ops),
                    category=self.spec.tools.category,
                ),
            )
        changed = _signature(tools) != _signature(self._tools) or not self._discovered.is_set()
        self._tools = tools
        self._discovered.set()
        if changed and self._changed is not None:
            log.info("MCP upstream %s: %d tools", self.name, len(ops))
            await self._changed()

    def _tools_changed(self) -> None:
        """`notifications/tools/list_changed` from the upstream: list again (one at a time; a
        flood of them is one more listing after the current one)."""
        if self._closed:
            return
        if self._relist is not None and not self._relist.done():
            self._relist_again = True
            return
        self._relist = asyncio.create_task(self._relist_loop(), name=f"mcp-relist-{self.name}")

    async def _relist_loop(self) -> None:
        while True:
            self._relist_again = False
            pool = self._pools.get(self._platform or "")
            conn = pool.primary if pool is not None else None
            if conn is None or not conn.alive:
                return  # the reconnect discovers anyway
            try:
                await self._discover(conn)
            except Exception as exc:
                log.warning("MCP upstream %s: listing tools again failed: %r", self.name, exc)
            if not self._relist_again:
                return
            await asyncio.sleep(0.2)

    # -- Adapter ----------------------------------------------------------------------------

    async def invoke(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> Any:
        definition = operation.definition or {}
        name = str(definition.get("name", operation.name))
        creds = dict(ctx.credentials)
        fresh = (
            Redactor([v for v in creds.values() if v not in self.redactor]) if creds else NO_SECRETS
        )
        sink = CallSink(
            ctx.progress, ctx.log, self.spec.limits.max_notifications, ctx.client_request
        )
        try:
            async with self.guard.call():
                started = time.perf_counter()
                try:
                    raw = await self._call(
                        await self._pool_for(creds), name, arguments, sink, ctx.trace_headers
                    )
                    result = to_result(
                        self.name,
                        raw,
                        self.spec.limits.max_result_bytes,
                        lambda value: fresh.scrub_obj(self.redactor.scrub_obj(value)),
                    )
                except UpstreamError as exc:
                    self.guard.record_failure(str(exc.details.get("reason", "error")))
                    raise
                self.guard.record_success(time.perf_counter() - started)
        except ToolwireError as exc:
            exc.message = fresh.scrub(self.redactor.scrub(exc.message))
            exc.details = fresh.scrub_obj(self.redactor.scrub_obj(exc.details))
            exc.args = (exc.message,)
            raise
        finally:
            if sink.dropped:
                log.info(
                    "MCP upstream %s: %d notifications of one call over the cap of %d dropped",
                    self.name,
                    sink.dropped,
                    sink.limit,
                )
        return result

    async def _call(
        self,
        pool: Pool,
        name: str,
        arguments: dict[str, Any],
        sink: CallSink,
        trace: Mapping[str, str],
    ) -> Any:
        for attempt in (1, 2):
            conn = await pool.acquire()
            try:
                return await conn.call_tool(name, arguments, sink, trace)
            except MCPError as exc:
                if not is_connection_lost(exc) and not conn.session_lost:
                    raise self._mcp_error(exc) from None
                conn.mark_dead(exc)
                if attempt == 1 and conn.session_lost:
                    continue  # the HTTP session expired before the request ran: re-initialise
                raise self._lost() from None
            except ValidationError:
                raise UpstreamError(
                    f"{self.name} returned a malformed result",
                    details={"upstream": self.name, "reason": "malformed"},
                ) from None
            except (OSError, EOFError) as exc:
                conn.mark_dead(exc)
                raise self._lost() from None
        raise self._lost()

    # -- ContentSource: resources and prompts (on the platform's session) --------------------

    async def list_content(self, kind: ContentKind) -> list[dict[str, Any]]:
        items = await self._on_platform(lambda conn: conn.list_content(kind, MAX_PAGES))
        out: list[dict[str, Any]] = []
        for item in self.redactor.scrub_obj(items):
            if kind == "prompts" and isinstance(item.get("name"), str):
                out.append({**item, "name": prompt_name(self.name, item["name"])})
            elif kind == "resources" and isinstance(item.get("uri"), str):
                out.append({**item, "uri": resource_uri(self.name, item["uri"])})
            elif kind == "resourceTemplates" and isinstance(item.get("uriTemplate"), str):
                out.append({**item, "uriTemplate": resource_uri(self.name, item["uriTemplate"])})
        return out

    async def read_resource(self, uri: str, channel: Channel | None = None) -> dict[str, Any]:
        sink = self._sink(channel)
        result = self.redactor.scrub_obj(
            await self._on_platform(lambda conn: conn.read_resource(uri, sink))
        )
        contents = result.get("contents")
        if isinstance(contents, list):
            result["contents"] = [
                {**c, "uri": resource_uri(self.name, c["uri"])}
                if isinstance(c, dict) and isinstance(c.get("uri"), str)
                else c
                for c in contents
            ]
        return dict(result)

    async def get_prompt(
        self, name: str, arguments: dict[str, str], channel: Channel | None = None
    ) -> dict[str, Any]:
        sink = self._sink(channel)
        result = await self._on_platform(lambda conn: conn.get_prompt(name, arguments, sink))
        return dict(self.redactor.scrub_obj(result))

    def _sink(self, channel: Channel | None) -> CallSink | None:
        """Where a read's or prompt get's log lines and client requests go: the door's channel
        (the upstream's requests to its client are answered by that client, as in a call)."""
        if channel is None:
            return None
        limit = self.spec.limits.max_notifications
        return CallSink(channel.progress, channel.log, limit, channel.request)

    def subscribable(self) -> bool:
        pool = self._pools.get(self._platform or "")
        conn = pool.primary if pool is not None else None
        return conn is not None and conn.subscribable

    def watch(self, updated: Updated, lists: ListChanged) -> None:
        self._updated = updated
        self._lists_changed = lists

    def _content_changed(self, kind: ContentKind) -> None:
        """The upstream's resource or prompt list changed (either era): tell the federation."""
        if self._lists_changed is not None and not self._closed:
            self._lists_changed(kind)

    async def subscribe(self, uri: str, subscriber: str) -> None:
        holders = self._subscribers.get(uri)
        if holders is None:
            await self._on_platform(lambda conn: conn.subscribe(uri))
            holders = self._subscribers.setdefault(uri, set())
        holders.add(subscriber)

    async def unsubscribe(self, uri: str, subscriber: str) -> None:
        holders = self._subscribers.get(uri)
        if holders is None:
            return
        holders.discard(subscriber)
        if not holders:
            del self._subscribers[uri]
            await self._on_platform(lambda conn: conn.unsubscribe(uri))

    async def _resource_updated(self, uri: str) -> None:
        """The upstream's `notifications/resources/updated`: passed on (namespaced) only for a
        URI subscribed here, so an upstream cannot push updates nobody asked for."""
        if self._updated is not None and uri in self._subscribers:
            await self._updated(resource_uri(self.name, uri))

    async def _missed(self) -> None:
        """The platform session's change stream was opened again after it dropped, with no
        replay: a list change or resource update sent meanwhile is lost. In doubt, say
        everything may have changed: the tools are listed again (clients hear `list_changed`
        only if they differ), the resource and prompt lists are announced as changed, and
        every resource subscribed here as updated (clients read it again)."""
        if self._closed:
            return
        log.info("MCP upstream %s: change stream reopened; re-reading it all", self.name)
        self._tools_changed()
        self._content_changed("resources")
        self._content_changed("prompts")
        for uri in list(self._subscribers):
            try:
                await self._resource_updated(uri)
            except Exception as exc:
                log.warning("MCP upstream %s: announcing an update failed: %r", self.name, exc)

    async def complete(
        self, ref: dict[str, Any], argument: dict[str, Any], context: dict[str, Any] | None
    ) -> dict[str, Any]:
        result = await self._on_platform(lambda conn: conn.complete(ref, argument, context))
        return dict(self.redactor.scrub_obj(result))

    async def _on_platform(self, fn: Callable[[Connection], Awaitable[Any]]) -> Any:
        """`fn` on a session of the platform's pool, under the guard, with the tools' error
        mapping (`mcp_error`, `connection_lost`, `unavailable`, `malformed`)."""
        pool = self._pools.get(self._platform or "")
        if pool is None:
            raise UpstreamError(
                f"{self.name} is not started",
                details={"upstream": self.name, "reason": "unavailable"},
            )
        async with self.guard.call():
            conn = await pool.acquire()
            try:
                return await fn(conn)
            except MCPError as exc:
                if not is_connection_lost(exc) and not conn.session_lost:
                    raise self._mcp_error(exc) from None
                conn.mark_dead(exc)
                raise self._lost() from None
            except ValidationError:
                raise UpstreamError(
                    f"{self.name} returned a malformed result",
                    details={"upstream": self.name, "reason": "malformed"},
                ) from None
            except (OSError, EOFError) as exc:
                conn.mark_dead(exc)
                raise self._lost() from None

    def _lost(self) -> UpstreamError:
        return UpstreamError(
            f"{self.name} closed the connection during the call",
            details={"upstream": self.name, "reason": "connection_lost"},
        )

    def _mcp_error(self, exc: MCPError) -> UpstreamError:
        message = self.redactor.scrub(str(exc.error.message))[:MAX_ERROR_MESSAGE]
        return UpstreamError(
            f"{self.name} answered with an error: {message}",
            details={"upstream": self.name, "reason": "mcp_error", "code": exc.code},
        )
