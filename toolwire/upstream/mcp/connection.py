"""One live MCP client session to an upstream: the official `mcp` SDK `Client`, held open by one
task for as long as the session lives, shared by every call routed to it.

    conn = Connection(upstream, open_client, hooks)
    await conn.open(timeout)        # spawn / connect, handshake or discover; UpstreamError if not
    result = await conn.call_tool(name, arguments, sink)   # many at once, from any task
    await conn.close()              # ends the session (and a stdio process)

Why one owner task: the SDK's client is an async context manager whose anyio task group must be
entered and left by the same task; calls from other tasks only write to its streams.

What it is not: choosing a session for a call (`pool.py`), or turning results into the core's
(`results.py`). Notifications: progress goes to the calling `CallSink` (the SDK correlates it by
progress token); a log message carries no request id, so it goes to the call in flight only when
there is exactly one on this session, and is dropped (counted) otherwise, so one caller never
sees another's log lines. The upstream's requests to its client (sampling, elicitation, roots)
follow the same rule. A `tools/call`, a `resources/read` and a `prompts/get` each count as a
call in flight while they run (each with its caller's sink); listings and completions do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.client import Client, IncomingMessage
from mcp.client.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    Subscription,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from toolwire.core.errors import UpstreamError
from toolwire.core.federated import ContentKind
from toolwire.core.ports import NO_CLIENT_REQUESTS, ClientRequestError

if TYPE_CHECKING:
    from toolwire.upstream.mcp.direct import DirectCalls

log = logging.getLogger("toolwire.upstream.mcp")

ClientFactory = Callable[["Connection"], Awaitable[Client]]
"""Builds (not enters) the SDK client for one connection; it may await the vault."""

CLOSE_TIMEOUT_S = 5.0
PING_TIMEOUT_S = 10.0
LISTEN_ACK_TIMEOUT_S = 10.0
"""How long a 2026-07-28 subscription waits for the upstream to acknowledge its listen stream."""
RELISTEN_BACKOFF_S = 1.0
"""After a listen stream that had been open ends, wait this long (or for a subscription change)
before opening it again."""

TRACE_KEYS = ("traceparent", "tracestate")
"""The W3C trace-context keys a call carries upstream (https://www.w3.org/TR/trace-context/):
in the request's `params._meta` on every transport (SEP-414, which reserves these unprefixed
keys), and as HTTP headers on the HTTP transports (`transport.OriginGuard`)."""
TRACE_HEADERS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "toolwire_mcp_trace_headers", default=MappingProxyType({})
)
"""The current call's trace context, for the HTTP requests the SDK makes for it: the SDK runs a
request's POST in the sending task's context, so a value set around `call_tool` reaches them."""
W3C = TraceContextTextMapPropagator()


Ask = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


async def _nobody(method: str, _params: Mapping[str, Any]) -> dict[str, Any]:
    raise ClientRequestError(NO_CLIENT_REQUESTS, f"{method}: no client to ask")


class CallSink:
    """Where one call's progress and log notifications go, at most `limit` of them."""

    def __init__(
        self,
        progress: Callable[[float, float | None, str | None], Awaitable[None]],
        log_line: Callable[[str, Any, str | None], Awaitable[None]],
        limit: int,
        ask: Ask = _nobody,
    ) -> None:
        self._progress = progress
        self._log = log_line
        self.ask = ask
        """Sends a request to the calling client (`InvokeContext.client_request`)."""
        self.limit = limit
        self.forwarded = 0
        self.dropped = 0

    def _take(self) -> bool:
        if self.forwarded >= self.limit:
            self.dropped += 1
            return False
        self.forwarded += 1
        return True

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self._take():
            await self._progress(progress, total, message)

    async def log(self, level: str, data: Any, logger: str | None) -> None:
        if self._take():
            await self._log(level, data, logger)


def _no_change(_kind: ContentKind) -> None:
    return None


async def _no_progress(_progress: float, _total: float | None, _message: str | None) -> None:
    return None


async def _no_log(_level: str, _data: Any, _logger: str | None) -> None:
    return None


async def _nothing_missed() -> None:
    return None


@dataclass
class Hooks:
    """What a connection tells its upstream: its tool list changed; its resource or prompt list
    changed; a resource it subscribed to was updated (the upstream's own URI); its change stream
    was opened again after it dropped, with no replay (`missed`: whatever the upstream said in
    between is lost, so the upstream re-reads conservatively)."""

    tools_changed: Callable[[], None] = lambda: None
    resource_updated: Callable[[str], Awaitable[None]] | None = None
    content_changed: Callable[[ContentKind], None] = _no_change
    missed: Callable[[], Coroutine[Any, Any, None]] = _nothing_missed


@dataclass
class Stats:
    opened_at: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    dropped_logs: int = 0


class Connection:
    """One SDK client session, its owner task, and the calls in flight on it."""

    def __init__(
        self, upstream: str, factory: ClientFactory, hooks: Hooks, ping_interval: float = 0.0
    ) -> None:
        self.upstream = upstream
        self._factory = factory
        self._hooks = hooks
        self._ping_interval = ping_interval
        self.client: Client | None = None
        self.error: BaseException | None = None
        self.stats = Stats()
        self._sinks: dict[int, CallSink] = {}
        self._next = 0
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self.ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.session_lost = False
        """An HTTP upstream answered 404 to this session's id: it must be initialised again."""
        self._listen_uris: set[str] = set()
        """2026-07-28: the upstream's own URIs its listen stream subscribes to."""
        self._relisten = asyncio.Event()
        self._listened = asyncio.Condition()
        self._listened_for: tuple[tuple[str, ...], frozenset[str], BaseException | None] = (
            (),
            frozenset(),
            None,
        )
        self._catching_up: set[asyncio.Task[None]] = set()
        self.direct_for: Callable[[Client], DirectCalls | None] | None = None
        """Set by the transport's builder where a `tools/call` may go beside the session
        (`direct.DirectCalls.of`); asked once the session is open."""
        self.direct: DirectCalls | None = None

    # -- life -------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.client is not None and not self._stop.is_set()

    @property
    def busy(self) -> int:
        return len(self._sinks)

    async def open(self, timeout: float) -> None:  # noqa: ASYNC109 (bounds spawn + handshake)
        """Connect and negotiate; raises `UpstreamError` (reason `unreachable` or `no_handshake`)
        when the upstream cannot be started or does not answer within `timeout` seconds."""
        self._task = asyncio.create_task(self._own(), name=f"mcp-upstream-{self.upstream}")
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            await self.close()
            raise UpstreamError(
                f"{self.upstream} did not complete the MCP handshake within {timeout:g}s",
                details={"upstream": self.upstream, "reason": "no_handshake"},
            ) from None
        if self.client is None:
            reason = describe(self.error)
            raise UpstreamError(
                f"{self.upstream} could not be connected: {reason}",
                details={"upstream": self.upstream, "reason": "unreachable"},
            )

    async def _own(self) -> None:
        try:
            client = await self._factory(self)
            async with client:
                self.client = client
                self.direct = self.direct_for(client) if self.direct_for is not None else None
                self.stats = Stats()
                self._ready.set()
                listener = None
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    listener = asyncio.create_task(self._listen(client))
                try:
                    await self._watch(client)
                finally:
                    if listener is not None:
                        listener.cancel()
                        with contextlib.suppress(BaseException):
                            await listener
        except Exception as exc:  # the transport's failure, kept for status and the caller
            self.error = exc
            log.info("MCP upstream %s: session ended: %s", self.upstream, describe(exc))
        finally:
            self.client = None
            self.direct = None
            self._ready.set()
            self.ended.set()

    async def _watch(self, client: Client) -> None:
        """Wait for `close()`; ping an idle session every `ping_interval` seconds and end it when
        the ping fails (a process that died between calls)."""
        while not self._stop.is_set():
            wait = self._ping_interval or None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._stop.wait()
            if self._stop.is_set() or self.busy:
                continue
            try:
                async with asyncio.timeout(PING_TIMEOUT_S):
                    await _probe(client)
            except MCPError as exc:
                if is_connection_lost(exc) or self.session_lost:
                    self.error = exc
                    return
            except Exception as exc:  # no answer in time, or the transport failed
                self.error = exc
                return

    async def _listen(self, client: Client) -> None:
        """2026-07-28 has no unsolicited notifications: list changes (tools, resources, prompts)
        and updates of the subscribed resources come on a `subscriptions/listen` stream, kept
        open for the session's life where the upstream has one, and opened again with the new
        `resourceSubscriptions` whenever they change (`subscribe`, `unsubscribe`).

        A stream that dropped (or that the upstream ended) is opened again after
        `RELISTEN_BACKOFF_S`; the spec has no replay, so once the new one is acknowledged the
        upstream is told it may have missed something (`Hooks.missed`: re-list, re-announce)."""
        opened = dropped = False
        while not self._stop.is_set():
            self._relisten.clear()
            uris = tuple(sorted(self._listen_uris))
            try:
                async with client.listen(
                    tools_list_changed=True,
                    resources_list_changed=True,
                    prompts_list_changed=True,
                    resource_subscriptions=uris,
                ) as subscription:
                    opened = True
                    honoured = subscription.honored.resource_subscriptions or ()
                    await self._heard(uris, frozenset(honoured))
                    if dropped:
                        dropped = False
                        self.reopened()
                    await self._events(subscription)
            except Exception as exc:
                await self._heard(uris, frozenset(), exc)
                if not opened:
                    log.info(
                        "MCP upstream %s: no list-changed stream: %s", self.upstream, describe(exc)
                    )
                    return
                dropped = True
                log.info("MCP upstream %s: listen stream ended: %s", self.upstream, describe(exc))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RELISTEN_BACKOFF_S):
                        await self._relisten.wait()

    def reopened(self) -> None:
        """A change stream of this session was opened again after it dropped, with no replay
        (this module's listen stream; the handshake era's GET stream, reopened by the SDK
        without `Last-Event-ID`, `transport.OriginGuard`): run `Hooks.missed` in a task of its
        own (kept until done), so the stream is read meanwhile."""
        if self._stop.is_set():
            return
        task = asyncio.create_task(self._hooks.missed(), name=f"mcp-missed-{self.upstream}")
        self._catching_up.add(task)
        task.add_done_callback(self._catching_up.discard)

    async def _events(self, subscription: Subscription) -> None:
        """Pass each event on until the stream ends or the subscribed URIs change."""
        relisten = asyncio.create_task(self._relisten.wait())
        try:
            while True:
                event = asyncio.create_task(anext(subscription, None))
                done, _ = await asyncio.wait({event, relisten}, return_when=asyncio.FIRST_COMPLETED)
                if event not in done:
                    event.cancel()
                    with contextlib.suppress(BaseException):
                        await event
                    return
                got = event.result()
                if got is None:
                    raise ConnectionError("the upstream closed its listen stream")
                await self._event(got)
        finally:
            relisten.cancel()

    async def _event(self, event: ServerEvent) -> None:
        if isinstance(event, ToolsListChanged):
            self._hooks.tools_changed()
        elif isinstance(event, ResourcesListChanged):
            self._hooks.content_changed("resources")
        elif isinstance(event, PromptsListChanged):
            self._hooks.content_changed("prompts")
        elif isinstance(event, ResourceUpdated) and self._hooks.resource_updated is not None:
            await self._hooks.resource_updated(event.uri)

    async def _heard(
        self, uris: tuple[str, ...], honoured: frozenset[str], error: BaseException | None = None
    ) -> None:
        """A listen stream for `uris` was acknowledged (or failed): wake the subscribers."""
        async with self._listened:
            self._listened_for = (uris, honoured, error)
            self._listened.notify_all()

    def lose_session(self) -> None:
        self.session_lost = True

    def mark_dead(self, exc: BaseException) -> None:
        """The session failed under a call: end it (the pool reconnects)."""
        self.error = exc
        self._stop.set()

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    # -- notifications ----------------------------------------------------------------------

    async def on_message(self, message: IncomingMessage) -> None:
        """The SDK's `message_handler`: list changes and resource updates (handshake era) reach
        the upstream; a transport exception is logged (the call it broke fails on its own)."""
        if isinstance(message, types.ToolListChangedNotification):
            self._hooks.tools_changed()
        elif isinstance(message, types.ResourceListChangedNotification):
            self._hooks.content_changed("resources")
        elif isinstance(message, types.PromptListChangedNotification):
            self._hooks.content_changed("prompts")
        elif isinstance(message, types.ResourceUpdatedNotification):
            if self._hooks.resource_updated is not None:
                await self._hooks.resource_updated(str(message.params.uri))
        elif isinstance(message, Exception):
            log.info("MCP upstream %s: transport error: %s", self.upstream, describe(message))

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        """The SDK's `logging_callback`: to the only call in flight, else dropped."""
        if len(self._sinks) == 1:
            sink = next(iter(self._sinks.values()))
            await sink.log(str(params.level), params.data, params.logger)
        else:
            self.stats.dropped_logs += 1

    # -- server-to-client requests (the SDK's sampling / elicitation / list-roots callbacks) --

    async def on_sampling(
        self, _context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.ErrorData:
        answer = await self._ask("sampling/createMessage", params)
        if isinstance(answer, types.ErrorData):
            return answer
        return types.CreateMessageResult.model_validate(answer)

    async def on_elicitation(
        self, _context: Any, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        answer = await self._ask("elicitation/create", params)
        if isinstance(answer, types.ErrorData):
            return answer
        return types.ElicitResult.model_validate(answer)

    async def on_list_roots(self, _context: Any) -> types.ListRootsResult | types.ErrorData:
        answer = await self._ask("roots/list", None)
        if isinstance(answer, types.ErrorData):
            return answer
        return types.ListRootsResult.model_validate(answer)

    async def _ask(self, method: str, params: Any) -> dict[str, Any] | types.ErrorData:
        """The upstream's request, sent to the client of the only call in flight on this
        session (a request carries no id of the call it belongs to, as for log lines); the
        client's result, or a JSON-RPC error for the upstream saying why not."""
        if len(self._sinks) != 1:
            why = "no call is in flight" if not self._sinks else "several calls are in flight"
            return types.ErrorData(
                code=NO_CLIENT_REQUESTS,
                message=f"{method}: toolwire cannot tell which client to ask ({why})",
            )
        sink = next(iter(self._sinks.values()))
        body = (
            {}
            if params is None
            else params.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        try:
            return await sink.ask(method, body)
        except ClientRequestError as exc:
            return types.ErrorData(code=exc.code, message=exc.message)
        except Exception as exc:  # a result that does not parse, above; the upstream hears why
            return types.ErrorData(code=-32603, message=f"{method}: {describe(exc)}")

    # -- calls ------------------------------------------------------------------------------

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        sink: CallSink,
        trace: Mapping[str, str] | None = None,
    ) -> types.CallToolResult | dict[str, Any]:
        """`tools/call` on this session: the result as a `CallToolResult`, or, where the call
        went beside the session (2026-07-28 over Streamable HTTP, `direct.DirectCalls`), as the
        JSON object the upstream sent, validated the same way. Cancelling the awaiting task
        cancels the request upstream (the SDK sends `notifications/cancelled`, or the direct
        call closes its POST). Raises what the SDK raises.
        `trace`: the call's W3C trace context (`InvokeContext.trace_headers`), made the current
        OpenTelemetry context for the SDK's call: the SDK's own client span ("MCP send
        tools/call") becomes a child of the call's span and is what reaches the upstream, in
        `_meta` (the SDK's SEP-414 injection) and, on HTTP, in headers (`OriginGuard`). Where
        the SDK makes no span (no OpenTelemetry provider), the call's own context goes."""
        client = self._live()
        carried = {k: trace[k] for k in TRACE_KEYS if trace and trace.get(k)}
        token = TRACE_HEADERS.set(carried) if carried else None
        parent = otel_context.attach(W3C.extract(carried)) if carried else None
        try:
            with self._in_flight(sink):
                direct = self.direct
                if direct is not None:
                    return await direct.call_tool(name, arguments, sink.progress, carried)
                return await client.call_tool(
                    name,
                    arguments,
                    progress_callback=sink.progress,
                    meta=types.RequestParamsMeta(**carried) if carried else None,  # type: ignore[typeddict-item]
                )
        finally:
            if parent is not None:
                otel_context.detach(parent)
            if token is not None:
                TRACE_HEADERS.reset(token)

    @contextlib.contextmanager
    def _in_flight(self, sink: CallSink | None) -> Iterator[None]:
        """One request in flight on this session, whose caller hears the upstream's log lines
        and requests through `sink` (None: a caller with no channel, whose upstream is refused
        what it asks; it still counts, so nobody else is asked in its place)."""
        key = self._next
        self._next += 1
        self._sinks[key] = sink if sink is not None else CallSink(_no_progress, _no_log, 0)
        try:
            yield
        finally:
            del self._sinks[key]
            self.stats.last_used = time.monotonic()

    async def list_tools(self, max_pages: int) -> list[types.Tool]:
        """Every tool the upstream lists, following `nextCursor` for at most `max_pages` pages."""
        client = self.client
        if client is None:
            raise UpstreamError(
                f"{self.upstream} is not connected",
                details={"upstream": self.upstream, "reason": "unavailable"},
            )
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    def _live(self) -> Client:
        client = self.client
        if client is None:
            raise UpstreamError(
                f"{self.upstream} is not connected",
                details={"upstream": self.upstream, "reason": "unavailable"},
            )
        return client

    async def list_content(self, kind: ContentKind, max_pages: int) -> list[dict[str, Any]]:
        """Every resource, resource template or prompt the upstream lists (MCP JSON, as sent),
        following `nextCursor` for at most `max_pages` pages."""
        client = self._live()
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page: (
                types.ListResourcesResult
                | types.ListResourceTemplatesResult
                | types.ListPromptsResult
            )
            if kind == "resources":
                page = await client.list_resources(cursor=cursor, cache_mode="refresh")
                items.extend(
                    r.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for r in page.resources
                )
            elif kind == "resourceTemplates":
                page = await client.list_resource_templates(cursor=cursor, cache_mode="refresh")
                items.extend(
                    r.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for r in page.resource_templates
                )
            else:
                page = await client.list_prompts(cursor=cursor, cache_mode="refresh")
                items.extend(
                    p.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for p in page.prompts
                )
            cursor = page.next_cursor
            if not cursor:
                break
        self.stats.last_used = time.monotonic()
        return items

    async def read_resource(self, uri: str, sink: CallSink | None = None) -> dict[str, Any]:
        """`resources/read` on this session: the result as MCP JSON. What the upstream asks
        its client meanwhile, and its log lines, go to `sink` (`_in_flight`); a 2026-07-28
        upstream's own `input_required` is driven by the SDK through the same path. Raises
        what the SDK raises."""
        client = self._live()
        with self._in_flight(sink):
            result = await client.read_resource(uri, cache_mode="refresh")
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def get_prompt(
        self, name: str, arguments: dict[str, str], sink: CallSink | None = None
    ) -> dict[str, Any]:
        """`prompts/get` on this session: the result as MCP JSON; `sink` as for
        `read_resource`. Raises what the SDK raises."""
        client = self._live()
        with self._in_flight(sink):
            result = await client.get_prompt(name, arguments or None)
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def subscribable(self) -> bool:
        """The upstream declared `resources.subscribe` in this session (2026-07-28: it serves
        `subscriptions/listen`, which carries the subscriptions)."""
        client = self.client
        if client is None:
            return False
        resources = client.server_capabilities.resources
        return bool(resources is not None and resources.subscribe)

    @property
    def modern(self) -> bool:
        client = self.client
        return client is not None and client.protocol_version in MODERN_PROTOCOL_VERSIONS

    async def subscribe(self, *uris: str) -> None:
        """Subscribe to `uris` on this session: `resources/subscribe` each in the handshake
        era; in 2026-07-28 the listen stream is opened again with them added, and this returns
        once the upstream acknowledged it. Raises what the SDK raises; `UpstreamError` (reason
        `mcp_error`) when a 2026-07-28 upstream did not honour one of them."""
        client = self._live()
        if not self.modern:
            with warnings.catch_warnings():  # the handshake era's way
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                for uri in uris:
                    await client.subscribe_resource(uri)
            return
        self._listen_uris.update(uris)
        try:
            async with self._listened:
                self._relisten.set()
                await asyncio.wait_for(
                    self._listened.wait_for(lambda: set(uris) <= set(self._listened_for[0])),
                    LISTEN_ACK_TIMEOUT_S,
                )
                _, honoured, error = self._listened_for
        except TimeoutError:
            self._listen_uris.difference_update(uris)
            raise UpstreamError(
                f"{self.upstream} did not acknowledge the subscription in time",
                details={"upstream": self.upstream, "reason": "unavailable"},
            ) from None
        refused = [uri for uri in uris if uri not in honoured]
        if refused:
            self._listen_uris.difference_update(refused)
            self._relisten.set()
            if error is not None:
                raise error
            raise UpstreamError(
                f"{self.upstream} did not honour the subscription",
                details={"upstream": self.upstream, "reason": "mcp_error"},
            )

    async def unsubscribe(self, uri: str) -> None:
        """`resources/unsubscribe` on this session (2026-07-28: the listen stream is opened
        again without it). Raises what the SDK raises."""
        client = self._live()
        if self.modern:
            self._listen_uris.discard(uri)
            self._relisten.set()
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.unsubscribe_resource(uri)

    async def complete(
        self, ref: dict[str, Any], argument: dict[str, Any], context: dict[str, Any] | None
    ) -> dict[str, Any]:
        """`completion/complete` on this session (`ref` a `ref/prompt` or `ref/resource` of
        the upstream's own names): the result as MCP JSON. Raises what the SDK raises;
        `ValidationError` for an argument that is not `{name, value}` strings."""
        reference: types.PromptReference | types.ResourceTemplateReference
        if ref.get("type") == "ref/prompt":
            reference = types.PromptReference(name=str(ref.get("name", "")))
        else:
            reference = types.ResourceTemplateReference(uri=str(ref.get("uri", "")))
        result = await self._live().complete(reference, argument, context)
        self.stats.last_used = time.monotonic()
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def _probe(client: Client) -> None:
    """A request any live upstream answers: `ping` in the handshake era; 2026-07-28 removed
    `ping`, so a `tools/list` there. An error answer is an answer (the session lives)."""
    if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
        await client.list_tools(cache_mode="refresh")
    else:
        await client.send_ping()


def is_connection_lost(exc: BaseException) -> bool:
    """The session is gone (the process died, the stream closed, the HTTP session expired)."""
    if isinstance(exc, MCPError):
        return exc.code == types.CONNECTION_CLOSED or exc.error.message == "Session terminated"
    return isinstance(exc, OSError | EOFError)


def describe(exc: BaseException | None) -> str:
    """A short reason for a failure, with no URL, header or argument in it."""
    if exc is None:
        return "unknown"
    if isinstance(exc, BaseExceptionGroup):
        return describe(exc.exceptions[0]) if exc.exceptions else "unknown"
    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}"
    if isinstance(exc, FileNotFoundError):
        return "command not found"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__} (errno {exc.errno})"
    return type(exc).__name__
