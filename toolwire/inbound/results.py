"""A tool's result as JSON, for the doors whose envelope carries JSON (REST `data`, the OpenAI
tool message's `content`).

    plain data                      -> the data itself
    content blocks (a `ToolResult`) -> {"content": [block, ...]}
    blocks and structured content   -> {"content": [block, ...], "structuredContent": data}

Blocks have the JSON shape of `toolwire.core.content` (`to_json`), which is MCP's: text
`{"type": "text", "text"}`, image and audio `{"type", "data" (base64), "mimeType"}`,
`{"type": "resource_link", "uri", "name", ...}` and `{"type": "resource", "resource": {"uri",
"text" | "blob", "mimeType"}}`. One shape for every JSON door, documented in docs/adapters.md.
What this is not: the MCP rendering (`toolwire.inbound.mcp.content`), which down-levels blocks.
"""

from __future__ import annotations

from typing import Any

from toolwire.core.model import Outcome


def result_json(outcome: Outcome) -> Any:
    """The JSON a door puts where the tool's result goes (see the module docstring)."""
    if outcome.content is None:
        return outcome.data
    body: dict[str, Any] = {"content": [block.to_json() for block in outcome.content]}
    if outcome.data is not None:
        body["structuredContent"] = outcome.data
    return body
