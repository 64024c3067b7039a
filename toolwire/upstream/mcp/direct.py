"""A 2026-07-28 `tools/call` sent from the calling task straight over toolwire's Streamable HTTP
transport, beside the SDK's `ClientSession` rather than through it.

    direct = DirectCalls.of(client, transport, conn.on_log)   # None where it does not apply
    result = await direct.call_tool(name, arguments, sink.progress, carried)
    # -> the upstream's result as sent (a JSON object, validated), or a `CallToolResult`

Why (docs/benchmarks.md, federation; docs/design/mcp-federation.md): through the session a
call crossed the SDK's request machinery (a `CallToolRequest` model dumped, the JSON-RPC
dispatcher's pending table, a memory stream and a cancel scope per request, an OpenTelemetry
span, a task for the POST, the session's reader task resolving the waiter), and toolwire then
dumped the validated result model back to JSON. Here the calling task writes the POST and reads
its answer itself (`StreamableHttp.exchange`, the transport's own wire rules), and the result
the upstream sent is what toolwire carries on, once the SDK's models accepted it.

What it keeps of the SDK's `Client.call_tool`, rule for rule:
- the request as the session would send it: `_meta` and headers from the session's own stamp
  (protocol version, client info and capabilities, `logLevel`, `Mcp-Method`, `Mcp-Name`,
  `Mcp-Param-*`), the request id as `progressToken`, the W3C trace context (SEP-414) in `_meta`
  and headers, under a client span "MCP send tools/call NAME" when a tracer provider records;
- the answer: the result checked against the negotiated version's shape
  (`mcp_types.methods.SERVER_RESULTS`, as `validate_server_result` checks it) and the session's
  result type (`CallToolResult` or `InputRequiredResult`), a result that is not an error
  checked against the tool's output schema (`ClientSession.validate_tool_result`); an error
  answer raises `MCPError`;
- progress on the request's stream goes to the caller's callback, log lines to the connection's
  log callback (its rule: to the only call in flight), anything else the upstream sends on it to
  the session (which answers requests as it would);
- an `InputRequiredResult` is driven by the SDK's own multi-round-trip driver (its callbacks,
  its round limit), later rounds through the session; a `HEADER_MISMATCH` refusal (the tool did
  not run) is sent again through the SDK's `Client.call_tool`, which lists the tools again first;
- cancelling the caller closes the POST, the cancellation at 2026-07-28; a transport failure
  ends the session (`MCPError` `CONNECTION_CLOSED`, as a request through the session gets).

Where it does not apply (`of` returns None, the session is used): the handshake era (the
session id, 404 re-initialisation and server-to-client requests on the POST stream), another
transport, a protocol revision other than the latest, and an SDK without the session parts used
here (`ClientSession._stamp`, `_call_tool_adapter`, `Client._drive_input_required`).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import mcp_types as types
import orjson
from mcp.client import Client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import methods
from mcp_types.version import LATEST_MODERN_VERSION
from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanKind, StatusCode
from pydantic import TypeAdapter, ValidationError

from toolwire.upstream.mcp.connection import TRACE_HEADERS, TRACE_KEYS, W3C
from toolwire.upstream.mcp.streamable import StreamableHttp

METHOD = "tools/call"
FIRST_ID = 1 << 40
"""Request ids of direct calls start here: apart from the session's own (which count from 0),
so a log or a packet capture tells the two apart."""

Progress = ProgressFnT
OnLog = Callable[[types.LoggingMessageNotificationParams], Awaitable[None]]

_tracer = trace.get_tracer("toolwire.upstream.mcp")
_surface = methods.SERVER_RESULTS.get((METHOD, LATEST_MODERN_VERSION))
SURFACE = TypeAdapter[Any](_surface) if _surface is not None else None  # type: ignore[arg-type]
"""The negotiated version's own result shape, the check `methods.validate_server_result` makes
(which dumps what it validated as well: not needed here)."""


class DirectCalls:
    """See the module docstring. One per live session (`Connection`)."""

    def __init__(self, client: Client, transport: StreamableHttp, on_log: OnLog) -> None:
        self._client = client
        self._session = client.session
        self._transport = transport
        self._on_log = on_log
        self._ids = itertools.count(FIRST_ID)

    @classmethod
    def of(
        cls, client: Client, transport: StreamableHttp | None, on_log: OnLog
    ) -> DirectCalls | None:
        """Direct calls on `client`'s session, or None where they do not apply."""
        if transport is None or client.protocol_version != LATEST_MODERN_VERSION:
            return None
        session = client.session
        needed = (
            hasattr(session, "_stamp"),
            hasattr(session, "_call_tool_adapter"),
            hasattr(client, "_drive_input_required"),
        )
        return cls(client, transport, on_log) if all(needed) else None

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        progress: Progress,
        carried: Mapping[str, str],
    ) -> dict[str, Any] | types.CallToolResult:
        """`tools/call` (module docstring): the result as the upstream sent it (a JSON object
        the SDK's models accepted), or a `CallToolResult` when the SDK drove further rounds.
        Raises what `Client.call_tool` raises (`MCPError`, `pydantic.ValidationError`,
        `RuntimeError` for structured content that breaks the output schema)."""
        request_id = next(self._ids)
        params: dict[str, Any] = {"name": name, "arguments": arguments}
        if carried:
            params["_meta"] = dict(carried)
        data: dict[str, Any] = {"method": METHOD, "params": params}
        opts: dict[str, Any] = {}
        self._session._stamp(data, opts)  # type: ignore[arg-type]
        meta = params.setdefault("_meta", {})
        meta["progressToken"] = request_id
        provider = trace.get_tracer_provider()
        if isinstance(provider, ProxyTracerProvider | NoOpTracerProvider):
            outcome = await self._send(request_id, data, opts, name, progress)
        else:
            with _tracer.start_as_current_span(
                f"MCP send {METHOD} {name}",
                kind=SpanKind.CLIENT,
                attributes={"mcp.method.name": METHOD, "jsonrpc.request.id": str(request_id)},
            ) as span:
                outcome = await self._send(request_id, data, opts, name, progress)
                if isinstance(outcome, types.JSONRPCError):
                    code = str(outcome.error.code)
                    span.set_attributes({"error.type": code, "rpc.response.status_code": code})
                    span.set_status(StatusCode.ERROR, outcome.error.message)
        if isinstance(outcome, types.JSONRPCError):
            if outcome.error.code == types.HEADER_MISMATCH:
                meta_model = types.RequestParamsMeta(**carried) if carried else None  # type: ignore[typeddict-item]
                return await self._client.call_tool(
                    name, arguments, progress_callback=progress, meta=meta_model
                )
            raise MCPError.from_error_data(outcome.error)
        return await self._result(name, arguments, progress, carried, outcome.result)

    async def _send(
        self,
        request_id: int,
        data: dict[str, Any],
        opts: Mapping[str, Any],
        name: str,
        progress: Progress,
    ) -> types.JSONRPCResponse | types.JSONRPCError:
        """POST the request (the current trace context in `_meta` and headers) and collect
        its answer; the response or error it ended with."""
        carrier: dict[str, str] = {}
        W3C.inject(carrier)
        current = carrier or TRACE_HEADERS.get()
        extra = {k: v for k, v in (opts.get("headers") or {}).items() if k not in TRACE_KEYS}
        meta = data["params"]["_meta"]
        for key in TRACE_KEYS:
            value = current.get(key)
            if value:
                extra[key] = meta[key] = value
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, **data})
        outcome: types.JSONRPCResponse | types.JSONRPCError | None = None

        async def deliver(message: types.JSONRPCMessage) -> None:
            nonlocal outcome
            if isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
                outcome = message
            elif isinstance(message, types.JSONRPCNotification) and message.method in (
                "notifications/progress",
                "notifications/message",
            ):
                await self._notified(message, request_id, progress)
            else:  # a request to this client, another notification: the session's to handle
                self._transport.inbox.put(SessionMessage(message))

        await self._transport.exchange(request_id, body, extra, deliver)
        if outcome is None:  # every answer ends with one (the transport's wire rules)
            raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed")
        return outcome

    async def _notified(
        self, message: types.JSONRPCNotification, request_id: int, progress: Progress
    ) -> None:
        """Progress of this request to its caller, a log line to the connection's rule; a
        notification whose params do not parse is dropped, as the session drops it."""
        try:
            if message.method == "notifications/progress":
                update = types.ProgressNotificationParams.model_validate(message.params or {})
                if update.progress_token == request_id:
                    await progress(update.progress, update.total, update.message)
            else:
                line = types.LoggingMessageNotificationParams.model_validate(message.params or {})
                await self._on_log(line)
        except ValidationError:
            return

    async def _result(
        self,
        name: str,
        arguments: dict[str, Any],
        progress: Progress,
        carried: Mapping[str, str],
        raw: dict[str, Any],
    ) -> dict[str, Any] | types.CallToolResult:
        """The answer's result checked as `ClientSession.send_request` and `call_tool` check it;
        an `InputRequiredResult` handed to the SDK's driver."""
        ttl = raw.get("ttlMs")  # the session floors a negative one before validating
        if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl < 0:
            raw["ttlMs"] = 0
        if SURFACE is not None:
            SURFACE.validate_python(raw, by_name=False)
        session = self._session
        result = session._call_tool_adapter.validate_python(raw, by_name=False)
        if isinstance(result, types.InputRequiredResult):
            meta = types.RequestParamsMeta(**carried) if carried else None  # type: ignore[typeddict-item]

            async def retry(
                responses: types.InputResponses | None, state: str | None
            ) -> types.CallToolResult | types.InputRequiredResult:
                answer = await session.call_tool(
                    name,
                    arguments,
                    progress_callback=progress,
                    input_responses=responses,
                    request_state=state,
                    meta=meta,
                    allow_input_required=True,
                )
                assert isinstance(answer, types.CallToolResult | types.InputRequiredResult)
                return answer

            final: types.CallToolResult = await self._client._drive_input_required(result, retry)
            return final
        if not isinstance(result, types.CallToolResult):
            raise MCPError(code=types.INTERNAL_ERROR, message=f"unexpected {METHOD} result")
        if not result.is_error:
            await session.validate_tool_result(name, result)
        return raw
