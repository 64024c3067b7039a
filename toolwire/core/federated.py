"""Resources and prompts of federated MCP servers: how their names cross the gateway.

A federated upstream's prompt `P` is listed as `<upstream>.P`; its resource `U` (a URI, or a
URI template) as `toolwire://<upstream>/U`. Both are reversible (`split_prompt`,
`split_resource`): the upstream name never holds `.` or `/`, and everything after it is the
upstream's own name or URI, byte for byte.

Scopes: the resources of upstream `u` are the operation `resources` of tool `u` (subject
`u.resources`, category `resources`), its prompts the operation `prompts` (subject
`u.prompts`, category `prompts`). So `u.*` or `u` grants everything of `u`, `*.resources` every
upstream's resources, and a key scoped to `u.echo` sees none of them. (docs/design/
mcp-federation-content.md)

List changes: a source's `notifications/resources/list_changed` or `prompts/list_changed` (a
`subscriptions/listen` event from a 2026-07-28 upstream) reaches every `on_lists_changed`
listener, throttled per kind (`LIST_CHANGED_EVERY_S`).

Subscriptions (`resources/subscribe`, handshake era; `subscriptions/listen` with
`resourceSubscriptions`, 2026-07-28, on both sides): `Federation.subscribe` checks the scope like a
read, asks the source to subscribe upstream (once per URI on this instance, however many clients),
and is audited; a source's `notifications/resources/updated` reaches every `on_updated` listener as
a namespaced URI. Which client sessions hear of it is the door's business (it keeps each session's
subscriptions). Completions (`completion/complete`) of a federated prompt or resource template go
to its upstream under the same scopes.

Asking the client: a read or a prompt get carries the door's `Channel` to its client, as a tool
call does (`InvokeContext.channel`): an upstream that asks its client something (sampling,
elicitation, roots) while serving it reaches the client that way (the door decides how: on the
request's stream, or as 2026-07-28 `input_required` rounds), and its log lines go there too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol

from toolwire.core.errors import ToolwireError, cancel_reason
from toolwire.core.model import AuditEvent, Principal
from toolwire.core.ports import AuditSink, Channel

log = logging.getLogger("toolwire.federation")

ContentKind = Literal["resources", "resourceTemplates", "prompts"]
RESOURCE_SCHEME = "toolwire://"
Updated = Callable[[str], Awaitable[None]]
"""Told the namespaced URI of a resource its upstream said was updated."""
ListChanged = Callable[[ContentKind], None]
"""Told that a source's list of `resources` (templates included) or `prompts` changed."""
ListsListener = Callable[[ContentKind], Awaitable[None]]
"""Told (throttled) that some upstream's list of `resources` or `prompts` changed."""
LIST_CHANGED_EVERY_S = 0.2
"""At most one list-changed announcement per kind this often; a burst in between (a flood, or
several upstreams at once) becomes one more at the end of the interval, never none."""


class NotSubscribable(Exception):
    """The resource's upstream does not offer subscriptions (no `resources.subscribe`)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(f"the MCP server {upstream!r} does not offer resource subscriptions")
        self.upstream = upstream


def resource_uri(upstream: str, uri: str) -> str:
    return f"{RESOURCE_SCHEME}{upstream}/{uri}"


def split_resource(uri: str) -> tuple[str, str] | None:
    """(upstream, its own URI) of a namespaced resource URI; None if it is not one."""
    if not uri.startswith(RESOURCE_SCHEME):
        return None
    upstream, sep, own = uri[len(RESOURCE_SCHEME) :].partition("/")
    if not sep or not upstream or not own:
        return None
    return upstream, own


def prompt_name(upstream: str, name: str) -> str:
    return f"{upstream}.{name}"


def split_prompt(name: str) -> tuple[str, str] | None:
    """(upstream, its own prompt name) of a namespaced prompt name; None if it is not one."""
    upstream, sep, own = name.partition(".")
    if not sep or not upstream or not own:
        return None
    return upstream, own


def scope_operation(kind: ContentKind) -> str:
    """The operation name a key's scopes are asked about for this kind (`resources`/`prompts`)."""
    return "prompts" if kind == "prompts" else "resources"


class ContentSource(Protocol):
    """A federated MCP server's resources and prompts (`upstream.mcp.McpUpstream`). Items and
    results are MCP JSON, already namespaced (`resource_uri`, `prompt_name`). Failures raise
    `UpstreamError` with `details.reason` as for its tools."""

    name: str

    async def list_content(self, kind: ContentKind) -> list[dict[str, Any]]:
        """Every item of `kind` the upstream lists (all its pages, bounded)."""
        ...

    async def read_resource(self, uri: str, channel: Channel | None = None) -> dict[str, Any]:
        """`resources/read` of the upstream's own `uri`: `{"contents": [...]}`. What the
        upstream asks its client meanwhile goes through `channel` (None: it is refused)."""
        ...

    async def get_prompt(
        self, name: str, arguments: dict[str, str], channel: Channel | None = None
    ) -> dict[str, Any]:
        """`prompts/get` of the upstream's own prompt `name`: `{"messages": [...], ...}`;
        `channel` as for `read_resource`."""
        ...

    def subscribable(self) -> bool:
        """Whether the upstream declared `resources.subscribe` (on its current session)."""
        ...

    async def subscribe(self, uri: str, subscriber: str) -> None:
        """Hold a subscription to the upstream's own `uri` for `subscriber` (an opaque id); the
        upstream is asked once per URI, and again after a reconnect."""
        ...

    async def unsubscribe(self, uri: str, subscriber: str) -> None:
        """Release `subscriber`'s hold; the last one out unsubscribes upstream."""
        ...

    def watch(self, updated: Updated, lists: ListChanged) -> None:
        """Call `updated(namespaced uri)` for every `notifications/resources/updated`, and
        `lists(kind)` for every `notifications/resources/list_changed` (`"resources"`) or
        `notifications/prompts/list_changed` (`"prompts"`), in either era."""
        ...

    async def complete(
        self, ref: dict[str, Any], argument: dict[str, Any], context: dict[str, Any] | None
    ) -> dict[str, Any]:
        """`completion/complete` with the upstream's own `ref` (`ref/prompt` name or
        `ref/resource` URI): `{"completion": {"values": [...], ...}}`."""
        ...


class Federation:
    """The resources and prompts of every federated MCP server, as one principal may see them:
    what a door lists, reads and gets. Reads and gets are audited (tool = the upstream,
    operation = `resources/read` or `prompts/get`, never charged). A source that fails while
    listing is left out of that list (logged), so one dead upstream never empties the rest."""

    def __init__(self, sources: Sequence[ContentSource], audit: AuditSink | None = None) -> None:
        self.sources = {source.name: source for source in sources}
        self.audit = audit
        self._listeners: list[Updated] = []
        self._lists = _Throttle(LIST_CHANGED_EVERY_S)
        for source in sources:
            source.watch(self._updated, self._lists.poke)

    def replace(self, sources: Sequence[ContentSource]) -> None:
        """Serve `sources` from now on (a reload changed the `mcp:` section); sources not seen
        before are watched for resource updates too."""
        for source in sources:
            if self.sources.get(source.name) is not source:
                source.watch(self._updated, self._lists.poke)
        self.sources = {source.name: source for source in sources}

    def on_updated(self, listener: Updated) -> None:
        """Tell `listener` the namespaced URI of every updated resource (of any upstream)."""
        self._listeners.append(listener)

    def on_lists_changed(self, listener: ListsListener) -> None:
        """Tell `listener` when some upstream's resource or prompt list changed: at most once
        per kind every `LIST_CHANGED_EVERY_S` seconds (the lists themselves are read live from
        the upstreams on every `list`, so there is nothing to rediscover)."""
        self._lists.listeners.append(listener)

    async def _updated(self, uri: str) -> None:
        for listener in self._listeners:
            try:
                await listener(uri)
            except Exception as exc:  # one failing listener never stops the others
                log.warning("resource-updated listener failed: %r", exc)

    def _permitted(self, principal: Principal, upstream: str, kind: ContentKind) -> bool:
        op = scope_operation(kind)
        return principal.scopes.permits(upstream, op, op)

    async def list(self, principal: Principal, kind: ContentKind) -> list[dict[str, Any]]:
        """Every item of `kind` this principal may see, upstream by upstream, in config order."""
        names = [n for n in self.sources if self._permitted(principal, n, kind)]
        pages = await asyncio.gather(
            *(self.sources[n].list_content(kind) for n in names), return_exceptions=True
        )
        items: list[dict[str, Any]] = []
        for name, page in zip(names, pages, strict=True):
            if isinstance(page, BaseException):
                log.info("listing %s of %s failed: %s", kind, name, page)
                continue
            items.extend(page)
        return items

    def _source(self, principal: Principal, upstream: str, kind: ContentKind) -> ContentSource:
        source = self.sources.get(upstream)
        if source is None or not self._permitted(principal, upstream, kind):
            raise LookupError(upstream)  # a denied one answers exactly as an unknown one
        return source

    async def read(
        self, principal: Principal, uri: str, request_id: str, channel: Channel | None = None
    ) -> dict[str, Any]:
        """`resources/read` of a namespaced URI, with the door's `channel` to the client (what
        the upstream asks it). `LookupError`: no such (visible) resource."""
        parts = split_resource(uri)
        if parts is None:
            raise LookupError(uri)
        source = self._source(principal, parts[0], "resources")
        work = source.read_resource(parts[1], channel)
        return await self._audited(principal, parts[0], "resources/read", request_id, work)

    async def get_prompt(
        self,
        principal: Principal,
        name: str,
        arguments: dict[str, str],
        request_id: str,
        channel: Channel | None = None,
    ) -> dict[str, Any]:
        """`prompts/get` of a namespaced name, `channel` as for `read`. `LookupError`: no such
        (visible) prompt."""
        parts = split_prompt(name)
        if parts is None:
            raise LookupError(name)
        source = self._source(principal, parts[0], "prompts")
        work = source.get_prompt(parts[1], arguments, channel)
        return await self._audited(principal, parts[0], "prompts/get", request_id, work)

    def _subscribable(self, principal: Principal, uri: str) -> tuple[ContentSource, str]:
        parts = split_resource(uri)
        if parts is None:
            raise LookupError(uri)
        source = self._source(principal, parts[0], "resources")
        if not source.subscribable():
            raise NotSubscribable(parts[0])
        return source, parts[1]

    async def subscribe(
        self, principal: Principal, uri: str, subscriber: str, request_id: str
    ) -> None:
        """`resources/subscribe` of a namespaced URI for `subscriber` (the client session).
        `LookupError`: no such (visible) resource; `NotSubscribable`: its upstream offers no
        subscriptions; `UpstreamError` when the upstream refuses. Audited like a read."""
        source, own = self._subscribable(principal, uri)

        async def work() -> dict[str, Any]:
            await source.subscribe(own, subscriber)
            return {}

        await self._audited(principal, source.name, "resources/subscribe", request_id, work())

    async def unsubscribe(
        self, principal: Principal, uri: str, subscriber: str, request_id: str
    ) -> None:
        """`resources/unsubscribe`: release `subscriber`'s hold (errors as `subscribe`)."""
        source, own = self._subscribable(principal, uri)

        async def work() -> dict[str, Any]:
            await source.unsubscribe(own, subscriber)
            return {}

        await self._audited(principal, source.name, "resources/unsubscribe", request_id, work())

    async def complete(
        self,
        principal: Principal,
        ref: dict[str, Any],
        argument: dict[str, Any],
        context: dict[str, Any] | None,
        request_id: str,
    ) -> dict[str, Any]:
        """`completion/complete` for a namespaced prompt (`ref/prompt`) or resource template
        (`ref/resource`), under the scopes of prompts and resources. `LookupError`: no such
        (visible) prompt or template; `ValueError`: a `ref` of another type."""
        kind = ref.get("type")
        target = ref.get("name") if kind == "ref/prompt" else ref.get("uri")
        if kind not in ("ref/prompt", "ref/resource") or not isinstance(target, str):
            raise ValueError("ref must be {type: ref/prompt, name} or {type: ref/resource, uri}")
        if kind == "ref/prompt":
            parts = split_prompt(target)
            scope: ContentKind = "prompts"
            own_ref: dict[str, Any] = {"type": kind, "name": parts[1] if parts else ""}
        else:
            parts = split_resource(target)
            scope = "resources"
            own_ref = {"type": kind, "uri": parts[1] if parts else ""}
        if parts is None:
            raise LookupError(target)
        source = self._source(principal, parts[0], scope)
        return await self._audited(
            principal,
            parts[0],
            "completion/complete",
            request_id,
            source.complete(own_ref, argument, context),
        )

    async def _audited(
        self,
        principal: Principal,
        upstream: str,
        operation: str,
        request_id: str,
        work: Awaitable[dict[str, Any]],
    ) -> dict[str, Any]:
        started = time.perf_counter()
        outcome, message = "ok", None
        try:
            return await work
        except ToolwireError as exc:
            outcome, message = exc.code, exc.message
            raise
        except asyncio.CancelledError as exc:  # the client went away, or never came back
            outcome, message = "CANCELLED", cancel_reason(exc)
            raise
        except BaseException as exc:  # a crash the door reports as -32603
            outcome, message = "INTERNAL", type(exc).__name__
            raise
        finally:
            if self.audit is not None:
                self.audit.record(
                    AuditEvent(
                        request_id=request_id,
                        at=time.time(),
                        account_id=principal.account_id,
                        key_id=principal.key_id,
                        tool=upstream,
                        operation=operation,
                        door="mcp",
                        outcome=outcome,
                        credits_charged=0,
                        latency_ms=(time.perf_counter() - started) * 1000,
                        message=message,
                        upstream=upstream,
                    )
                )


class _Throttle:
    """Calls its listeners with a kind at once, then at most once per `every_s` seconds per
    kind: pokes within the interval become one call at its end."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.listeners: list[ListsListener] = []
        self._last: dict[ContentKind, float] = {}
        self._pending: set[ContentKind] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def poke(self, kind: ContentKind) -> None:
        if kind in self._pending:
            return
        self._pending.add(kind)
        last = self._last.get(kind)
        wait = 0.0 if last is None else max(0.0, last + self.every_s - time.monotonic())
        task = asyncio.get_running_loop().create_task(
            self._send(kind, wait), name=f"list-changed-{kind}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, kind: ContentKind, wait: float) -> None:
        try:
            if wait:
                await asyncio.sleep(wait)
        finally:
            self._pending.discard(kind)
        self._last[kind] = time.monotonic()
        for listener in self.listeners:
            try:
                await listener(kind)
            except Exception as exc:  # one failing listener never stops the others
                log.warning("list-changed listener failed: %r", exc)
