"""A real MCP server (the official SDK's MCPServer, over stdio) with the tools the federation
tests need that no published server has: one that crashes its process mid-call, one that hangs,
an enormous result, a notification flood, progress and logs, a tool list that changes, and
(with FIXTURE_DESCRIPTION_FILE) a tool whose description is read from a file at start, and (with
FIXTURE_CONTENT=1) a resource, a prompt and a tool that says their lists changed and the
resource was updated, in whichever era the caller speaks, and one that ends every
2026-07-28 listen stream and changes a tool and the resource while none is open.

    python fixture.py            # the MCPServer tools below
    python fixture.py bad        # a low-level server listing tools with invalid names/schemas
    python fixture.py http PORT  # the MCPServer tools over Streamable HTTP on 127.0.0.1:PORT/mcp
    python fixture.py sse PORT   # ... over the legacy HTTP+SSE transport (127.0.0.1:PORT/sse)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

BUS = InMemorySubscriptionBus()
server = MCPServer("fixture", subscriptions=BUS)
MARK = os.environ.get("FIXTURE_MARK", "")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return f"{MARK}{text}"


DESCRIPTION_FILE = os.environ.get("FIXTURE_DESCRIPTION_FILE")
"""When set, the `stock` tool's description is read from this file at start (the pinning test
edits it, then restarts the process: a rug pull between restarts)."""
if DESCRIPTION_FILE:

    @server.tool(description=open(DESCRIPTION_FILE, encoding="utf-8").read().strip())  # noqa: SIM115
    def stock() -> str:
        return "apple, pear"


@server.tool()
async def crash(after: float = 0.2) -> str:
    """Exit the whole server process after `after` seconds, mid-call."""
    await asyncio.sleep(after)
    os._exit(3)


@server.tool()
async def hang() -> str:
    """Never answer."""
    await asyncio.Event().wait()
    return "unreachable"


@server.tool()
def big(kib: int) -> str:
    """A text result of `kib` KiB."""
    return "x" * (kib * 1024)


@server.tool()
async def chatty(count: int, ctx: Context) -> str:
    """`count` progress notifications and `count` log lines, then done."""
    for i in range(count):
        await ctx.report_progress(i + 1, count, f"step {i + 1}")
        await ctx.info(f"line {i + 1}")
    return "done"


@server.tool()
async def slow(seconds: float) -> str:
    """Answer after `seconds`."""
    await asyncio.sleep(seconds)
    return "slow done"


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable (to show it is scrubbed from results)."""
    return os.environ.get(name, "")


@server.tool()
async def header(name: str, ctx: Context) -> str:
    """The value of a request header this server received (HTTP transports; empty on stdio)."""
    return str((ctx.headers or {}).get(name, ""))


@server.tool()
async def trace(ctx: Context) -> str:
    """The W3C trace context this request carried, as JSON: `traceparent` and `tracestate` in
    its HTTP headers (empty on stdio) and in its `params._meta` (SEP-414)."""
    headers = ctx.headers or {}
    meta = dict(ctx.request_context.meta or {})
    keys = ("traceparent", "tracestate")
    return json.dumps(
        {
            "header": {k: headers.get(k) for k in keys if headers.get(k)},
            "meta": {k: meta.get(k) for k in keys if meta.get(k)},
        }
    )


@server.tool()
def fail(message: str) -> str:
    """Fail with `message` (the client gets a result with `isError`)."""
    raise ValueError(message)


@server.tool()
async def request_id(ctx: Context) -> str:
    """The JSON-RPC id of this request, as this server received it."""
    return str(ctx.request_id)


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a tool named `added` and tell the client the tool list changed."""

    def added() -> str:
        """A tool that appeared at run time."""
        return "added here"

    server.add_tool(added, name="added")
    await ctx.notify_tools_changed()
    return "grown"


NOTE = "fixture://note"
NOTE_TEXT = ["a note"]


class GetStreams:
    """ASGI wrapper (handshake era over HTTP): `drop()` ends the open GET stream as a dropped
    connection would (the server hears a disconnect, the client sees the response end; no event
    ids, so no replay) and holds new GET streams back until `reopen()`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.admitting = asyncio.Event()
        self.admitting.set()
        self.cut = asyncio.Event()
        self.ended = asyncio.Event()
        self.ended.set()

    async def drop(self) -> None:
        self.admitting.clear()
        self.cut.set()
        await self.ended.wait()

    def reopen(self) -> None:
        self.admitting.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        await self.admitting.wait()
        self.cut.clear()
        self.ended.clear()
        finished = False

        async def gated_receive() -> Any:
            heard = asyncio.ensure_future(receive())
            cut = asyncio.ensure_future(self.cut.wait())
            await asyncio.wait({heard, cut}, return_when=asyncio.FIRST_COMPLETED)
            if heard.done():
                cut.cancel()
                return heard.result()
            heard.cancel()
            return {"type": "http.disconnect"}

        async def gated_send(message: Any) -> None:
            nonlocal finished
            if self.cut.is_set():
                return
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, gated_receive, gated_send)
        finally:
            if not finished:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.ended.set()


GET_STREAMS: GetStreams | None = None

if os.environ.get("FIXTURE_CONTENT"):
    LISTEN = ListenHandler(BUS)
    LISTENING = asyncio.Event()
    """Set while `subscriptions/listen` is served; `vanish` holds new streams back meanwhile."""
    LISTENING.set()

    async def listen(ctx: Any, params: types.SubscriptionsListenRequestParams) -> Any:
        await LISTENING.wait()
        return await LISTEN(ctx, params)

    server._lowlevel_server.add_request_handler(  # the SDK's handler, behind a gate
        "subscriptions/listen", types.SubscriptionsListenRequestParams, listen
    )

    @server.resource(NOTE)
    def note() -> str:
        """A note that `churn` says was updated (and `vanish` changes)."""
        return NOTE_TEXT[0]

    @server.tool()
    async def vanish(ctx: Context) -> str:
        """End the client's change streams (2026-07-28: every listen stream, by the spec's
        graceful close; handshake era over HTTP: the GET stream, as a dropped connection) and,
        before any can be opened again, add the tool `late` and change fixture://note, saying
        so where nobody listens: a client that does not re-read after listening again misses
        it."""
        modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        LISTENING.clear()
        if modern:
            LISTEN.close()
        elif GET_STREAMS is not None:
            await GET_STREAMS.drop()

        def late() -> str:
            """A tool added while no change stream was open."""
            return "late here"

        server.add_tool(late, name="late")
        NOTE_TEXT[0] = "a changed note"
        if modern:
            await ctx.notify_tools_changed()
            await ctx.notify_resource_updated(NOTE)
        else:
            await ctx.request_context.session.send_tool_list_changed()
            await ctx.request_context.session.send_resource_updated(NOTE)
        LISTENING.set()
        if GET_STREAMS is not None:
            GET_STREAMS.reopen()
        return "vanished"

    @server.prompt()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"Hello {name}"

    @server.tool()
    async def churn(ctx: Context) -> str:
        """Say the resource and prompt lists changed and fixture://note was updated: on the
        listen streams (2026-07-28), or as notifications on the session (handshake era)."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            await ctx.notify_resources_changed()
            await ctx.notify_prompts_changed()
            await ctx.notify_resource_updated(NOTE)
        else:
            session = ctx.request_context.session
            await session.send_resource_list_changed()
            await session.send_prompt_list_changed()
            await session.send_resource_updated(NOTE)
        return "churned"


def bad_server() -> Any:
    from mcp.server import Server
    from mcp.server.stdio import stdio_server

    obj = {"type": "object", "properties": {"x": {"type": "string"}}}
    tools = [
        types.Tool(name="fine", description="A valid tool.", input_schema=obj),
        types.Tool(name="dotted.name v2", description="Spelled validly.", input_schema=obj),
        types.Tool(name="x" * 40, description="Too long: cut and hashed.", input_schema=obj),
        types.Tool(
            name="broken_schema",
            description="Its schema does not compile.",
            input_schema={"type": "object", "properties": {"x": {"type": "nonsense"}}},
        ),
        types.Tool(name="dotted-name-v2", description="Collides once spelled.", input_schema=obj),
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        text = f"called {params.name} with {params.arguments}"
        return types.CallToolResult(content=[types.TextContent(text=text)])

    low = Server("bad", on_list_tools=list_tools, on_call_tool=call_tool)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await low.run(read, write, low.create_initialization_options())

    asyncio.run(main())


if __name__ == "__main__":
    if sys.argv[1:] == ["bad"]:
        bad_server()
    elif sys.argv[1:2] == ["http"] and os.environ.get("FIXTURE_CONTENT"):
        import uvicorn

        app = server.streamable_http_app(json_response=True, host="127.0.0.1")
        GET_STREAMS = GetStreams(app)
        uvicorn.run(GET_STREAMS, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    elif sys.argv[1:2] == ["http"]:
        sse = bool(os.environ.get("FIXTURE_SSE"))  # answers as event streams (progress, logs)
        server.run(
            "streamable-http", host="127.0.0.1", port=int(sys.argv[2]), json_response=not sse
        )
    elif sys.argv[1:2] == ["sse"]:
        server.run("sse", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
