"""The MCP doors, each driven by the official `mcp` SDK client in the mode its users use:
Streamable HTTP 2026-07-28 (stateless) and handshake (sessions), legacy HTTP+SSE, and
`toolwire stdio` in both forms (`--local`: the gateway in the stdio process; `--url`: a bridge
to the running gateway).

Their one table is `CORE_ERRORS` (toolwire/inbound/mcp/jsonrpc.py, keyed by error class and read
through `rule_for_code`): a core error becomes an
`isError` tool result or a JSON-RPC error with a given code; over Streamable HTTP the HTTP status
of a JSON-RPC error comes from the era's table (`MODERN_HTTP_STATUS`, `HANDSHAKE_HTTP_STATUS`).
One client session per key stays open for the whole run (stdio: one process per key).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import httpx2
from mcp import Client, ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.inbound.door_matrix.door import (
    Answer,
    Key,
    NoTableRow,
    PortalDoor,
    Stage,
    Started,
    Wire,
    World,
    canonical_name,
    error_fields,
)
from toolwire.core.errors import BY_CODE
from toolwire.inbound.mcp import refusals, versions
from toolwire.inbound.mcp.jsonrpc import (
    HANDSHAKE_HTTP_STATUS,
    MODERN_HTTP_STATUS,
    AsRpcError,
    rule_for_code,
)
from toolwire.testing import TOOLWIRE


class McpCaller(Protocol):
    """What the doors need of `mcp.Client` and `mcp.ClientSession` alike."""

    async def list_tools(self) -> types.ListToolsResult: ...

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, meta: Any = None
    ) -> types.CallToolResult: ...


class StatusLog:
    """The HTTP status of the last POST a client made (an httpx2 response hook), and the last
    refusal of a stream's GET (`refused`: the SDK's SSE client raises the status alone)."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.refused: Answer | None = None

    async def record(self, response: httpx2.Response) -> None:
        if response.request.method == "POST":
            self.last = response.status_code

    async def record_refusal(self, response: httpx2.Response) -> None:
        if response.request.method != "GET" or response.status_code < 400:
            return
        text = (await response.aread()).decode()
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            # one event (the refusal, in the type the client accepts): its data line
            text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
        body = json.loads(text)
        error = body.get("error", {})
        code, _, details = error_fields(error.get("data"))
        wire = Wire("rpc-error", error.get("code"), response.status_code)
        self.refused = Answer(False, wire, code, error.get("message"), details, raw=body)


def result_answer(result: types.CallToolResult, status: int | None) -> Answer:
    meta = result.meta or {}
    receipt = meta.get(versions.META_TOOLWIRE)
    if result.is_error:
        code, message, details = error_fields(meta.get(versions.META_TOOLWIRE_ERROR))
        wire = Wire("isError", None, status)
        return Answer(False, wire, code, message, details, meta=receipt, raw=result)
    data = result.structured_content
    if data is None:
        text = next((b.text for b in result.content if isinstance(b, types.TextContent)), "")
        with contextlib.suppress(ValueError):
            data = json.loads(text)
    return Answer(True, Wire("result", None, status), data=data, meta=receipt, raw=result)


def rpc_answer(exc: MCPError, status: int | None) -> Answer:
    code, _, details = error_fields(exc.data)
    wire = Wire("rpc-error", exc.code, status)
    return Answer(False, wire, code, exc.message, details, raw=exc)


def first_leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, which task groups wrap errors in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class McpDoor(PortalDoor):
    """Shared by every MCP door: one open session per key, calls normalised from MCP results.
    Subclasses say how a session is opened (`connect`) and which HTTP status table applies."""

    audit_door = "mcp"
    status_table: Mapping[int, int] | None = None
    """The era's HTTP status table for JSON-RPC errors (None: not HTTP, or no such table)."""
    refusals_over_http = False
    """Admission failures are answered from `refusals.TRANSPORT` (the HTTP transports)."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.sessions: dict[str, tuple[McpCaller, StatusLog]] = {}

    def connect(self, key: Key, status: StatusLog) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    def session(self, key: Key, status: StatusLog | None = None) -> tuple[McpCaller, StatusLog]:
        if key.secret not in self.sessions:
            status = status or StatusLog()
            opened = self.portal.wrap_async_context_manager(self.connect(key, status))
            self.sessions[key.secret] = (self.stack.enter_context(opened), status)
        return self.sessions[key.secret]

    def call(
        self, key: Key, tool: str, args: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Answer:
        status = StatusLog()
        try:
            self.session(key, status)
        except Exception as exc:  # refused while connecting: an admission failure
            cause = first_leaf(exc)
            if isinstance(cause, MCPError):
                return rpc_answer(cause, status.last)
            if status.refused is not None:
                return status.refused
            return Answer(False, Wire("no-session", type(cause).__name__, status.last), raw=exc)
        return super().call(key, tool, args, idempotency_key=idempotency_key)

    async def alist_tools(self, key: Key) -> set[str]:
        caller, _ = self.sessions[key.secret]
        listed = await caller.list_tools()
        assert listed.next_cursor is None, "the test catalog fits one page"
        return {canonical_name(tool.name, "mcp") for tool in listed.tools}

    def list_tools(self, key: Key) -> set[str]:
        self.session(key)
        return super().list_tools(key)

    async def acall(
        self, key: Key, tool: str, args: dict[str, Any], idempotency_key: str | None
    ) -> Answer:
        caller, status = self.sessions[key.secret]
        meta = {versions.META_IDEMPOTENCY_KEY: idempotency_key} if idempotency_key else None
        status.last = None
        try:
            result = await caller.call_tool(tool, args, meta=meta)
        except MCPError as exc:
            return rpc_answer(exc, status.last)
        return result_answer(result, status.last)

    def call_cancelled(
        self, key: Key, tool: str, args: Mapping[str, Any], started: Started
    ) -> None:
        self.session(key)
        super().call_cancelled(key, tool, args, started)

    def expected_error(self, code: str, stage: Stage = "call") -> Wire:
        rule = rule_for_code(code)
        if rule is None:
            raise NoTableRow(self.name, code)
        if not isinstance(rule, AsRpcError):
            return Wire("isError", None, None)
        if stage == "admission" and self.refusals_over_http:
            row = refusals.row_for(BY_CODE[code])
            return Wire("rpc-error", row.rpc, int(row.status))
        if stage == "admission":
            return Wire("rpc-error", rule.code, None)
        table = self.status_table
        return Wire("rpc-error", rule.code, None if table is None else table.get(rule.code))


class McpHttpDoor(McpDoor):
    """Streamable HTTP at /mcp, through `mcp.Client` in one mode."""

    def __init__(self, world: World, name: str, mode: str, table: Mapping[int, int]) -> None:
        super().__init__(world)
        self.name = name
        self.mode = mode
        self.status_table = table
        self.refusals_over_http = True

    @contextlib.asynccontextmanager
    async def connect(self, key: Key, status: StatusLog) -> AsyncIterator[McpCaller]:
        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {key.secret}"},
            timeout=30,
            event_hooks={"response": [status.record]},
        )
        url = self.world.gateway.url + "/mcp"
        transport = streamable_http_client(url, http_client=http)
        async with http, Client(transport, mode=self.mode, cache=None) as client:
            yield client


def mcp_modern(world: World) -> McpDoor:
    return McpHttpDoor(world, "mcp-stateless", "2026-07-28", MODERN_HTTP_STATUS)


def mcp_handshake(world: World) -> McpDoor:
    return McpHttpDoor(world, "mcp-handshake", "legacy", HANDSHAKE_HTTP_STATUS)


class LegacySseDoor(McpDoor):
    """`GET /sse` + `POST /messages` (MCP 2024-11-05 transport), through `ClientSession`."""

    name = "legacy-sse"
    refusals_over_http = True

    @contextlib.asynccontextmanager
    async def connect(self, key: Key, status: StatusLog) -> AsyncIterator[McpCaller]:
        headers = {"Authorization": f"Bearer {key.secret}"}
        url = self.world.gateway.url + "/sse"

        def http(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            client = create_mcp_http_client(headers, timeout, auth)
            client.event_hooks["response"].append(status.record_refusal)
            return client

        async with (
            sse_client(url, headers=headers, httpx_client_factory=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


class StdioDoor(McpDoor):
    """`toolwire stdio` as a desktop client launches it, one process per key; its stderr goes
    to a file of the gateway's data dir (kept for the failure report)."""

    def __init__(self, world: World, name: str, local: bool) -> None:
        super().__init__(world)
        self.name = name
        self.local = local

    def args(self) -> list[str]:
        gw = self.world.gateway
        if not self.local:
            return ["stdio", "--url", gw.url + "/mcp"]
        config = gw.data_dir / "toolwire.yaml"
        return ["stdio", "--local", "--data-dir", str(gw.data_dir), "--config", str(config)]

    @contextlib.asynccontextmanager
    async def connect(self, key: Key, status: StatusLog) -> AsyncIterator[McpCaller]:
        env = {
            **self.world.env,
            "PATH": os.environ.get("PATH", ""),
            "TOOLWIRE_API_KEY": key.secret,
            "TOOLWIRE_LOG_LEVEL": "warning",
        }
        params = StdioServerParameters(command=TOOLWIRE, args=self.args(), env=env)
        log = self.world.gateway.data_dir / f"{self.name}-{key.key_id}.stderr"
        with log.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                yield client


def stdio_local(world: World) -> McpDoor:
    return StdioDoor(world, "stdio-local", local=True)


def stdio_url(world: World) -> McpDoor:
    return StdioDoor(world, "stdio-url", local=False)
