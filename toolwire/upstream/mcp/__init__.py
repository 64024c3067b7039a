"""Federated MCP servers: upstream MCP servers whose tools the gateway serves as its own.

    adapter.McpUpstream(spec, redactor)   one upstream: operation source + adapter
    McpSpec, Stdio, Http, ToolRules, ToolRule, Limits     what the catalog declares (`spec.py`)

Modules: `connection.py` (one SDK client session, owned by one task), `pool.py` (sessions per
credential set, restart with backoff, extra stdio processes, idle reaping), `transport.py`
(stdio / Streamable HTTP / HTTP+SSE clients, the origin guard), `discovery.py` (tools/list to
operations), `results.py` (CallToolResult to the core's ToolResult), `guard.py` (the health seam).
"""

from toolwire.upstream.mcp.spec import Http, Limits, McpSpec, Stdio, ToolRule, ToolRules

__all__ = ["Http", "Limits", "McpSpec", "Stdio", "ToolRule", "ToolRules"]
# `McpUpstream` lives in `toolwire.upstream.mcp.adapter`, imported only when a catalog declares
# an MCP server: the SDK takes seconds to import on a loaded machine, and most gateways have none.
