"""What MCP clients see of the catalog and of an `Outcome`, per protocol version.

- `CatalogView`: the MCP tool definitions of one catalog, rendered once per catalog (and per
  version level) instead of once per `tools/list`, with a fingerprint for pagination cursors.
- `call_result`: an `Outcome` as a `CallToolResult`: the data as JSON text, `structuredContent`
  when the operation declares an output schema, `isError: true` with the error code for tool
  failures, and the call's receipt (credits, balance, latency) under `_meta["io.toolwire/meta"]`.
- Down-levelling for older versions: no `outputSchema`/`structuredContent`/`title`/
  `resource_link` before 2025-06-18, no annotations or audio before 2025-03-26.

A tool that returns the core's neutral `ToolResult` (`toolwire.core.content`) comes back as
`Outcome.content`: its blocks are rendered as MCP content blocks (down-levelled per version), with
`structuredContent` when it also carried structured data and the client reads it. Plain JSON data
is one text block holding the JSON.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from toolwire.core import payload
from toolwire.core.catalog import Catalog, Operation
from toolwire.core.model import Outcome
from toolwire.inbound import formats
from toolwire.inbound.mcp import versions
from toolwire.inbound.mcp.jsonrpc import AsToolError, from_core, rule_for

LEVELS = ("2024-11-05", "2025-03-26", "2025-06-18")
"""Version levels at which a tool definition changes shape; newer versions use the last one."""


def _level(version: str) -> str:
    if versions.has_structured_output(version) or versions.is_modern(version):
        return "2025-06-18"
    if versions.has_annotations(version):
        return "2025-03-26"
    return "2024-11-05"


@dataclass(frozen=True, slots=True)
class CatalogView:
    """One catalog, as MCP definitions, at every version level."""

    fingerprint: str
    definitions: Mapping[str, Mapping[str, dict[str, Any]]]
    """level -> qualified operation name -> definition."""

    def definition(self, op: Operation, version: str) -> dict[str, Any]:
        return self.definitions[_level(version)][op.qualified]


_VIEWS: weakref.WeakKeyDictionary[Catalog, CatalogView] = weakref.WeakKeyDictionary()


def view_of(catalog: Catalog) -> CatalogView:
    """The (cached) MCP view of `catalog`; a reloaded catalog gets a new one."""
    found = _VIEWS.get(catalog)
    if found is None:
        found = _build_view(catalog)
        _VIEWS[catalog] = found
    return found


def _build_view(catalog: Catalog) -> CatalogView:
    full = {op.qualified: formats.mcp(op) for op in catalog}
    by_level: dict[str, dict[str, dict[str, Any]]] = {"2025-06-18": full}
    by_level["2025-03-26"] = {
        name: {k: v for k, v in d.items() if k not in ("outputSchema", "title")}
        for name, d in full.items()
    }
    by_level["2024-11-05"] = {
        name: {k: v for k, v in d.items() if k != "annotations"}
        for name, d in by_level["2025-03-26"].items()
    }
    digest = hashlib.sha256(orjson.dumps(full, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return CatalogView(fingerprint=digest[:16], definitions=by_level)


def call_result(outcome: Outcome, op: Operation | None, version: str) -> dict[str, Any]:
    """The `CallToolResult` for an outcome; raises `RpcError` when the table says the failure is
    a protocol error (an unknown tool)."""
    receipt = {versions.META_TOOLWIRE: outcome.meta.to_dict()}
    if outcome.error is not None:
        if not isinstance(rule_for(type(outcome.error)), AsToolError):
            raise from_core(outcome.error)
        body = {"error": outcome.error.to_dict()}
        return {
            "content": [{"type": "text", "text": orjson.dumps(body).decode()}],
            "isError": True,
            "_meta": {**receipt, versions.META_TOOLWIRE_ERROR: outcome.error.to_dict()},
        }
    data = outcome.data
    if outcome.content is not None:
        blocks = [downlevel_block(b.to_json(), version) for b in outcome.content]
        result: dict[str, Any] = {"content": blocks, "isError": False, "_meta": receipt}
        if isinstance(data, dict) and versions.has_structured_output(version):
            result["structuredContent"] = data
        return result
    text = data if isinstance(data, str) else payload.encode(data).decode()
    result = {"content": [{"type": "text", "text": text}], "isError": False, "_meta": receipt}
    if op is not None and op.output_schema is not None and versions.has_structured_output(version):
        result["structuredContent"] = data
    return result


def downlevel_block(block: Any, version: str) -> Any:
    """A content block as `version` can read it (unknown shapes pass through)."""
    if not isinstance(block, dict):
        return block
    kind = block.get("type")
    if kind == "resource_link" and not versions.has_structured_output(version):
        return {
            "type": "text",
            "text": f"[resource] {block.get('name', '')} {block.get('uri', '')}",
        }
    if not versions.has_annotations(version):
        if kind == "audio":
            return {"type": "text", "text": f"[audio {block.get('mimeType', '')} omitted]"}
        return {k: v for k, v in block.items() if k != "annotations"}
    return block
