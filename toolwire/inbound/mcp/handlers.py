"""The MCP methods, once, for every transport and both eras.

The connection kernel (`kernel.Kernel`) builds each request's `Context` from the client's
`Connection` (who is calling, in which protocol version, what it declared) and calls
`Handlers.handle`, whichever transport carried the message. Handlers return a result object
or raise `RpcError`; they send notifications related to the request (progress, logs) through
`Context.emit`, which the transport routes to the right stream or drops.

A federated server may ask its client something (sampling, elicitation, roots) while it serves
a `tools/call`, `prompts/get` or `resources/read`: each of the three runs with a `Channel` to its
client (`CallChannel`, the request's stream in the handshake era), or, for a 2026-07-28 client,
parked for `input_required` rounds (`Context.rounds`, `_asking`).

What this is not: transport (framing, headers, sessions, SSE) or policy. `tools/call` hands the
call to `Gateway.execute` and renders what comes back; scopes, validation, prices and limits are
the core's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from toolwire import __version__
from toolwire.core import names
from toolwire.core.errors import ToolwireError
from toolwire.core.federated import ContentKind, NotSubscribable
from toolwire.core.gateway import Gateway
from toolwire.core.ids import random_hex
from toolwire.core.model import Principal, ToolCall
from toolwire.core.ports import NO_CLIENT_REQUESTS, Channel, ClientRequestError
from toolwire.inbound import tracecontext
from toolwire.inbound.mcp import content, versions
from toolwire.inbound.mcp.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    RpcError,
    RpcRequest,
    notification,
)
from toolwire.inbound.mcp.round_state import Subject
from toolwire.inbound.mcp.rounds import may_park
from toolwire.inbound.mcp.subscriptions import TooManySubscriptions

Era = Literal["handshake", "modern"]
Emit = Callable[[dict[str, Any]], Awaitable[None]]

PAGE_SIZE = 100
LIST_TTL_MS = 60_000
"""How long a client may cache `tools/list` (2026-07-28 `ttlMs`); list-changed notifications
tell subscribed clients sooner."""
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
SERVER_INFO = {"name": "toolwire", "title": "toolwire", "version": __version__}
INSTRUCTIONS = (
    "toolwire is a gateway: each tool call is billed in credits to the caller's account. "
    "Failed calls come back as results with isError set and an error code the model can act on."
)
HANDSHAKE_METHODS = frozenset({"initialize", "ping", "logging/setLevel"})
"""Methods 2026-07-28 removed: a modern request for them is 'method not found'."""
REMOVED_IN_MODERN = HANDSHAKE_METHODS | {"resources/subscribe", "resources/unsubscribe"}


async def _drop(_message: dict[str, Any]) -> None:
    return None


async def _ignore_level(_level: str) -> None:
    return None


class NoSubscriptions:
    """A connection that cannot hold subscriptions (stateless 2026-07-28 requests)."""

    async def add(self, session_id: str, uri: str) -> None:
        raise RpcError(METHOD_NOT_FOUND, "resources/subscribe needs a handshake-era session")

    async def remove(self, session_id: str, uri: str) -> bool:
        return False


class SessionSubscriptions(Protocol):
    """Where a session's subscriptions are kept (`subscriptions.Subscriptions`)."""

    async def add(self, session_id: str, uri: str) -> None: ...

    async def remove(self, session_id: str, uri: str) -> bool: ...


class RoundsPort(Protocol):
    """`rounds.Rounds` as the handlers see it."""

    async def call(
        self,
        ctx: Context,
        subject: Subject,
        params: Mapping[str, Any],
        channel: Channel,
        run: Callable[[Channel], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]: ...


async def _cannot_ask(method: str, _params: Mapping[str, Any]) -> dict[str, Any]:
    raise ClientRequestError(NO_CLIENT_REQUESTS, f"{method}: this request has no stream to ask on")


@dataclass(slots=True)
class Context:
    """Who sends this request, in which version, and where its notifications go (one per
    request: slots, for a cheaper `__init__`)."""

    principal: Principal
    version: str
    era: Era
    request_id: str
    """The gateway's request id (audit, receipts): not the JSON-RPC id."""
    emit: Emit = _drop
    log_level: str | None = None
    """Minimum level of `notifications/message` this client asked for; None: send none."""
    set_log_level: Callable[[str], Awaitable[None]] = _ignore_level
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    tools_changed: Callable[[], Awaitable[None]] | None = None
    ask: Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]] = _cannot_ask
    """Send a request to this client and await its result (`asks.Asks.ask`)."""
    session_id: str = ""
    """The connection's id: whose resource subscriptions these are."""
    subscriptions: SessionSubscriptions = field(default_factory=NoSubscriptions)
    rounds: RoundsPort | None = None
    """Where a 2026-07-28 `tools/call`, `prompts/get` or `resources/read` may be parked for
    `input_required` rounds (`rounds`); None: never (handshake era, stdio)."""


def capabilities() -> dict[str, Any]:
    """What this server offers: tools, logging, and the prompts and resources of federated MCP
    servers (`core.federated`; empty without any), each list with list-changed notifications
    (`changes`), resources with subscriptions."""
    return {
        "tools": {"listChanged": True},
        "logging": {},
        "prompts": {"listChanged": True},
        "resources": {"subscribe": True, "listChanged": True},
        "completions": {},
    }


class CallChannel:
    """The door's side of one running request (`toolwire.core.ports.Channel`): progress and
    log messages back to the client, the capabilities it declared, and requests to it. Adapters
    reach it through `InvokeContext.progress()`, `.log()`, `.client_capabilities` and
    `.client_request()`; federated prompts and resources through `Federation.get_prompt` and
    `.read`."""

    __slots__ = ("_ctx", "_last", "_token")

    def __init__(self, ctx: Context, progress_token: str | int | None) -> None:
        self._ctx = ctx
        self._token = progress_token
        self._last: float | None = None

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self._token is None:
            return
        if self._last is not None and progress <= self._last:
            return  # MCP: progress MUST increase
        self._last = progress
        params: dict[str, Any] = {"progressToken": self._token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self._ctx.emit(notification("notifications/progress", params))

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        minimum = self._ctx.log_level
        if minimum is None or level not in LOG_LEVELS:
            return
        if LOG_LEVELS.index(level) < LOG_LEVELS.index(minimum):
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger is not None:
            params["logger"] = logger
        await self._ctx.emit(notification("notifications/message", params))

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        return self._ctx.client_capabilities

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._ctx.ask(method, params)


class Handlers:
    """Method name -> handler, over one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._methods: dict[str, Callable[[Context, RpcRequest], Awaitable[dict[str, Any]]]] = {
            "ping": self.ping,
            "logging/setLevel": self.set_level,
            "server/discover": self.discover,
            "tools/list": self.list_tools,
            "tools/call": self.call_tool,
            "prompts/list": self.list_prompts,
            "resources/list": self.list_resources,
            "resources/templates/list": self.list_resource_templates,
            "resources/read": self.read_resource,
            "prompts/get": self.get_prompt,
            "resources/subscribe": self.subscribe,
            "resources/unsubscribe": self.unsubscribe,
            "completion/complete": self.complete,
        }

    def knows(self, method: str, era: Era) -> bool:
        if era == "modern" and method in REMOVED_IN_MODERN:
            return False
        if era == "handshake" and method == "server/discover":
            return False
        return method in self._methods

    async def handle(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        if not self.knows(request.method, ctx.era):
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {request.method}")
        result = await self._methods[request.method](ctx, request)
        if ctx.era == "modern":
            meta = dict(result.get("_meta") or {})
            meta[versions.META_SERVER_INFO] = SERVER_INFO
            result = {**result, "_meta": meta, "resultType": result.get("resultType", "complete")}
        return result

    # -- lifecycle and utilities ---------------------------------------------------------------

    def initialize_result(self, version: str) -> dict[str, Any]:
        return {
            "protocolVersion": version,
            "capabilities": capabilities(),
            "serverInfo": SERVER_INFO,
            "instructions": INSTRUCTIONS,
        }

    async def ping(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        return {}

    async def set_level(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        level = request.params.get("level")
        if level not in LOG_LEVELS:
            raise RpcError(INVALID_PARAMS, "level must be one of: " + ", ".join(LOG_LEVELS))
        await ctx.set_log_level(str(level))
        return {}

    async def discover(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        return {
            "supportedVersions": list(versions.KNOWN),
            "capabilities": capabilities(),
            "instructions": INSTRUCTIONS,
            "ttlMs": LIST_TTL_MS,
            "cacheScope": "public",
        }

    # -- tools ---------------------------------------------------------------------------------

    async def list_tools(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        catalog = self.gateway.catalog
        view = content.view_of(catalog)
        visible = self.gateway.visible(ctx.principal)
        start = _read_cursor(request.params.get("cursor"), view.fingerprint)
        page = visible[start : start + PAGE_SIZE]
        result: dict[str, Any] = {"tools": [view.definition(op, ctx.version) for op in page]}
        if start + PAGE_SIZE < len(visible):
            result["nextCursor"] = _cursor(view.fingerprint, start + PAGE_SIZE)
        if ctx.era == "modern":
            result["ttlMs"] = LIST_TTL_MS
            result["cacheScope"] = "private"  # the list depends on the key's scopes
        return result

    async def call_tool(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        params = request.params
        name = params.get("name")
        arguments = params.get("arguments")
        if not isinstance(name, str) or not name:
            raise RpcError(INVALID_PARAMS, "tools/call needs params.name, a string")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "tools/call params.arguments must be an object")
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        if isinstance(token, bool) or not isinstance(token, (str, int)):
            token = None
        idempotency_key = (
            meta.get(versions.META_IDEMPOTENCY_KEY) if isinstance(meta, dict) else None
        )
        if idempotency_key is not None and not isinstance(idempotency_key, str):
            raise RpcError(
                INVALID_PARAMS, f"_meta.{versions.META_IDEMPOTENCY_KEY} must be a string"
            )
        tool, operation = names.parse(name, "mcp")
        channel = CallChannel(ctx, token)
        call = ToolCall(
            tool=tool,
            operation=operation,
            arguments=arguments,
            request_id=ctx.request_id,
            door="mcp",
            idempotency_key=idempotency_key,
            channel=channel,
            trace_context=tracecontext.received(meta if isinstance(meta, dict) else None),
        )
        if ctx.rounds is None or not may_park(ctx.client_capabilities, params):
            return await self.run_call(ctx, call)

        async def run(given: Channel) -> dict[str, Any]:
            if given is not channel:  # parked: the round's channel
                return await self.run_call(ctx, dataclasses.replace(call, channel=given))
            return await self.run_call(ctx, call)

        subject = Subject("tools/call", name, arguments)
        return await ctx.rounds.call(ctx, subject, params, channel, run)

    async def run_call(self, ctx: Context, call: ToolCall) -> dict[str, Any]:
        """`call` through the gateway, rendered as a `tools/call` result."""
        outcome = await self.gateway.execute(ctx.principal, call)
        op = self.gateway.catalog.get(outcome.meta.tool) if outcome.meta.tool else None
        return content.call_result(outcome, op, ctx.version)

    # -- prompts and resources: those of federated MCP servers (core.federated) ----------------

    async def list_prompts(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        return await self._list(ctx, request, "prompts")

    async def list_resources(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        return await self._list(ctx, request, "resources")

    async def list_resource_templates(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        return await self._list(ctx, request, "resourceTemplates")

    async def read_resource(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        uri = request.params.get("uri")
        code = INVALID_PARAMS if ctx.era == "modern" else RESOURCE_NOT_FOUND
        if not isinstance(uri, str):
            raise RpcError(INVALID_PARAMS, "resources/read needs params.uri, a string")

        async def run(channel: Channel) -> dict[str, Any]:
            # refusals mapped here, inside the (possibly parked, possibly relayed) request
            try:
                return await self.gateway.federation.read(
                    ctx.principal, uri, ctx.request_id, channel
                )
            except LookupError:
                raise RpcError(code, "resource not found", {"uri": uri}) from None
            except ToolwireError as exc:
                raise _upstream_failed(exc) from None

        return await _asking(ctx, Subject("resources/read", uri, {}), request.params, run)

    async def get_prompt(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        name = request.params.get("name")
        arguments = request.params.get("arguments") or {}
        if not isinstance(name, str):
            raise RpcError(INVALID_PARAMS, "prompts/get needs params.name, a string")
        if not isinstance(arguments, dict) or not all(
            isinstance(v, str) for v in arguments.values()
        ):
            raise RpcError(INVALID_PARAMS, "prompts/get params.arguments must map names to strings")

        async def run(channel: Channel) -> dict[str, Any]:
            # refusals mapped here, inside the (possibly parked, possibly relayed) request
            try:
                return await self.gateway.federation.get_prompt(
                    ctx.principal, name, arguments, ctx.request_id, channel
                )
            except LookupError:
                raise RpcError(INVALID_PARAMS, f"prompt not found: {name}") from None
            except ToolwireError as exc:
                raise _upstream_failed(exc) from None

        return await _asking(ctx, Subject("prompts/get", name, arguments), request.params, run)

    async def subscribe(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        """`resources/subscribe` (handshake era): the upstream is subscribed (once per URI on
        this instance) and the session recorded, so its GET stream relays the updates."""
        uri = _uri_of(request, "resources/subscribe")
        with _federated_resource(uri):
            await self.gateway.federation.subscribe(
                ctx.principal, uri, ctx.session_id, ctx.request_id
            )
        try:
            await ctx.subscriptions.add(ctx.session_id, uri)
        except Exception as exc:  # the session does not hold it: undo the upstream subscription
            await self.gateway.federation.unsubscribe(
                ctx.principal, uri, ctx.session_id, ctx.request_id
            )
            if isinstance(exc, TooManySubscriptions):
                raise RpcError(INVALID_PARAMS, str(exc)) from None
            raise  # e.g. the state backend's failure, answered as such by the kernel
        return {}

    async def unsubscribe(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        uri = _uri_of(request, "resources/unsubscribe")
        await ctx.subscriptions.remove(ctx.session_id, uri)
        with _federated_resource(uri):
            await self.gateway.federation.unsubscribe(
                ctx.principal, uri, ctx.session_id, ctx.request_id
            )
        return {}

    async def complete(self, ctx: Context, request: RpcRequest) -> dict[str, Any]:
        """`completion/complete` for a federated prompt or resource template: its upstream's
        answer, as sent (scrubbed)."""
        ref = request.params.get("ref")
        argument = request.params.get("argument")
        context = request.params.get("context")
        if not isinstance(ref, dict):
            raise RpcError(INVALID_PARAMS, "completion/complete needs params.ref, an object")
        if not (
            isinstance(argument, dict)
            and isinstance(argument.get("name"), str)
            and isinstance(argument.get("value"), str)
        ):
            raise RpcError(INVALID_PARAMS, "params.argument must be {name, value}, both strings")
        known = context.get("arguments") if isinstance(context, dict) else None
        if known is not None and not (
            isinstance(known, dict) and all(isinstance(v, str) for v in known.values())
        ):
            raise RpcError(INVALID_PARAMS, "params.context.arguments must map names to strings")
        try:
            return await self.gateway.federation.complete(
                ctx.principal,
                ref,
                {"name": argument["name"], "value": argument["value"]},
                known,
                ctx.request_id,
            )
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from None
        except LookupError:
            raise RpcError(
                INVALID_PARAMS, "no such prompt or resource template", {"ref": ref}
            ) from None
        except ToolwireError as exc:
            raise _upstream_failed(exc) from None

    async def _list(self, ctx: Context, request: RpcRequest, key: ContentKind) -> dict[str, Any]:
        """All visible items of every upstream, paged here (`PAGE_SIZE`): the cursor names the
        list's fingerprint, so a list that changed between pages is refused as stale."""
        items = await self.gateway.federation.list(ctx.principal, key)
        fingerprint = hashlib.blake2b(orjson.dumps(items), digest_size=8).hexdigest()
        start = _read_cursor(request.params.get("cursor"), fingerprint)
        result: dict[str, Any] = {key: items[start : start + PAGE_SIZE]}
        if start + PAGE_SIZE < len(items):
            result["nextCursor"] = _cursor(fingerprint, start + PAGE_SIZE)
        if ctx.era == "modern":
            result["ttlMs"] = LIST_TTL_MS
            result["cacheScope"] = "private"  # the list depends on the key's scopes
        return result


async def _asking(
    ctx: Context,
    subject: Subject,
    params: Mapping[str, Any],
    run: Callable[[Channel], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """`run` a `prompts/get` or `resources/read` whose upstream may ask the client: with the
    door's channel (handshake era: asked on the request's stream), or through `ctx.rounds`
    (2026-07-28: parked for `input_required` rounds), exactly as a `tools/call`."""
    channel = CallChannel(ctx, None)  # neither method's upstream result carries progress
    if ctx.rounds is None or not may_park(ctx.client_capabilities, params):
        return await run(channel)
    return await ctx.rounds.call(ctx, subject, params, channel, run)


def _uri_of(request: RpcRequest, method: str) -> str:
    uri = request.params.get("uri")
    if not isinstance(uri, str) or not uri:
        raise RpcError(INVALID_PARAMS, f"{method} needs params.uri, a string")
    return uri


@contextlib.contextmanager
def _federated_resource(uri: str) -> Iterator[None]:
    """The federation's refusals for resource `uri` in MCP's form: unknown (or not this key's)
    -> -32002, not subscribable -> method not found, an upstream's failure -> its error."""
    try:
        yield
    except LookupError:
        raise RpcError(RESOURCE_NOT_FOUND, "resource not found", {"uri": uri}) from None
    except NotSubscribable as exc:
        raise RpcError(METHOD_NOT_FOUND, str(exc), {"uri": uri}) from None
    except ToolwireError as exc:
        raise _upstream_failed(exc) from None


def _upstream_failed(exc: ToolwireError) -> RpcError:
    """An upstream's failure on a resource or prompt, as JSON-RPC: -32603 with the core's error
    in `data` (`ToolwireError.to_dict`: code, message, details already scrubbed by the adapter),
    as every other core error reaches an MCP client: the upstream's own JSON-RPC code stays in
    `data.details.code`, never in place of the core's."""
    return RpcError(INTERNAL_ERROR, exc.message, exc.to_dict())


def new_request_id() -> str:
    return "req_" + random_hex(16)  # 128 random bits, as uuid4 gave


def _cursor(fingerprint: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{fingerprint}:{offset}".encode()).decode().rstrip("=")


def _read_cursor(cursor: Any, fingerprint: str) -> int:
    """The offset a cursor points at; INVALID_PARAMS for a foreign or stale one."""
    if cursor is None:
        return 0
    if not isinstance(cursor, str) or len(cursor) > 128:
        raise RpcError(INVALID_PARAMS, "invalid cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        seen, _, offset = text.partition(":")
        start = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RpcError(INVALID_PARAMS, "invalid cursor") from None
    if seen != fingerprint or start < 0:
        raise RpcError(INVALID_PARAMS, "cursor is stale: the tool list changed; list again")
    return start
