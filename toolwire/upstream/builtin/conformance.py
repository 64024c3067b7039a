"""The `conformance` profile: the fixture tools the official MCP conformance suite calls by name.

Off by default; enable with `toolwire serve --profile conformance` (or `builtins.profiles` in the
catalog file). These tools exist to exercise the MCP door (content types, progress, logging,
errors, list-changed notifications, header mirroring), not to be useful: never enable the
profile on a gateway that serves real agents.

Two seams here are stopgaps until the core has named ones (docs/design/mcp-door.md):

- content blocks: a tool returns `McpContent({"content": [...]})`, a dict whose `mcp_content`
  attribute tells the MCP door to send the blocks as they are (other doors see plain JSON);
- logs and list-changed: the MCP door's progress function (`InvokeContext.on_progress`) also
  offers `log(level, data)` and `tools_changed()`; other doors' progress functions do not, and
  these tools then simply skip the log lines.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import struct
from typing import Annotated, Any

from pydantic import Field

from toolwire.core.errors import MissingClientCapability, UpstreamError
from toolwire.core.ports import InvokeContext
from toolwire.upstream.builtin.registry import BuiltinRegistry

_fixtures = BuiltinRegistry()

RED_PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAA"
    "ABJRU5ErkJggg=="
)
SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"
STEP_S = 0.05


class McpContent(dict[str, Any]):
    """A tool result that is MCP content blocks (`{"content": [...]}`), not JSON data."""

    mcp_content = True


def _silence_wav() -> str:
    """A valid 8 kHz mono 16-bit WAV of 8 silent samples, base64."""
    samples = b"\x00\x00" * 8
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    return base64.b64encode(header + b"data" + struct.pack("<I", len(samples)) + samples).decode()


async def _log(ctx: InvokeContext, level: str, data: Any) -> None:
    log = getattr(ctx.on_progress, "log", None)
    if log is not None:
        await log(level, data)


def _text(text: str) -> McpContent:
    return McpContent(content=[{"type": "text", "text": text}])


@_fixtures.operation("test_simple_text", category="conformance", read_only=True)
def simple_text() -> McpContent:
    """Conformance fixture: returns one text block."""
    return _text("This is a simple text response for testing.")


@_fixtures.operation("test_image_content", category="conformance", read_only=True)
def image_content() -> McpContent:
    """Conformance fixture: returns a 1x1 PNG image block."""
    return McpContent(content=[{"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"}])


@_fixtures.operation("test_audio_content", category="conformance", read_only=True)
def audio_content() -> McpContent:
    """Conformance fixture: returns a short WAV audio block."""
    return McpContent(content=[{"type": "audio", "data": _silence_wav(), "mimeType": "audio/wav"}])


@_fixtures.operation("test_embedded_resource", category="conformance", read_only=True)
def embedded_resource() -> McpContent:
    """Conformance fixture: returns an embedded text resource."""
    resource = {
        "uri": "test://embedded-resource",
        "mimeType": "text/plain",
        "text": "This is an embedded resource content.",
    }
    return McpContent(content=[{"type": "resource", "resource": resource}])


@_fixtures.operation("test_multiple_content_types", category="conformance", read_only=True)
def multiple_content_types() -> McpContent:
    """Conformance fixture: returns text, image and resource blocks."""
    resource = {
        "uri": "test://mixed-content-resource",
        "mimeType": "application/json",
        "text": '{"test":"data","value":123}',
    }
    return McpContent(
        content=[
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"},
            {"type": "resource", "resource": resource},
        ]
    )


@_fixtures.operation("test_tool_with_logging", category="conformance", read_only=True)
async def tool_with_logging(ctx: InvokeContext) -> McpContent:
    """Conformance fixture: sends three info log messages while it runs."""
    await _log(ctx, "info", "Tool execution started")
    await asyncio.sleep(STEP_S)
    await _log(ctx, "info", "Tool processing data")
    await asyncio.sleep(STEP_S)
    await _log(ctx, "info", "Tool execution completed")
    return _text("Tool with logging executed successfully")


@_fixtures.operation("test_logging_tool", category="conformance", read_only=True)
async def logging_tool(ctx: InvokeContext) -> McpContent:
    """Conformance fixture: logs at every level (sent only to clients that asked for logs)."""
    for level in ("debug", "info", "warning", "error"):
        await _log(ctx, level, f"{level} message")
    return _text("logged")


@_fixtures.operation("test_tool_with_progress", category="conformance", read_only=True)
async def tool_with_progress(ctx: InvokeContext) -> McpContent:
    """Conformance fixture: reports progress 0, 50 and 100 of 100."""
    for step in (0, 50, 100):
        await ctx.progress(step, 100)
        if step < 100:
            await asyncio.sleep(STEP_S)
    return _text("Tool with progress executed successfully")


@_fixtures.operation("test_error_handling", category="conformance", read_only=True)
def error_handling() -> McpContent:
    """Conformance fixture: always fails (reported as a tool error, isError: true)."""
    raise UpstreamError("This tool intentionally returns an error for testing")


@_fixtures.operation("test_missing_capability", category="conformance", read_only=True)
def missing_capability(ctx: InvokeContext) -> McpContent:
    """Conformance fixture: needs the client's sampling capability, which it never uses."""
    capabilities = getattr(ctx.on_progress, "client_capabilities", None) or {}
    if "sampling" not in capabilities:
        raise MissingClientCapability(
            "this tool needs the client's sampling capability",
            details={"requiredCapabilities": {"sampling": {}}},
        )
    return _text("the client declared sampling")


@_fixtures.operation("test_streaming_elicitation", category="conformance", read_only=True)
def streaming_elicitation() -> McpContent:
    """Conformance fixture: answers without sending the client any request of its own."""
    return _text("no elicitation needed")


@_fixtures.operation("test_trigger_tool_change", category="conformance")
async def trigger_tool_change(ctx: InvokeContext) -> McpContent:
    """Conformance fixture: announces that the tool list changed (it did not)."""
    changed = getattr(ctx.on_progress, "tools_changed", None)
    if changed is not None:
        await changed()
    return _text("tools/list_changed sent")


@_fixtures.operation("test_wait", category="conformance", read_only=True)
async def wait(
    ctx: InvokeContext,
    seconds: Annotated[float, Field(ge=0, le=60, description="How long to run.")] = 30.0,
) -> McpContent:
    """Conformance fixture: reports progress, then runs until done or cancelled."""
    await ctx.progress(0, seconds)
    await asyncio.sleep(seconds)
    return _text("waited")


@_fixtures.operation("test_header_param", category="conformance", read_only=True)
def header_param(
    region: Annotated[str, Field(description="Mirrored as Mcp-Param-Region.")],
) -> McpContent:
    """Conformance fixture: a parameter mirrored into an HTTP header (x-mcp-header)."""
    return _text(f"region={region}")


@_fixtures.operation("json_schema_2020_12_tool", category="conformance", read_only=True)
def json_schema_2020_12_tool(name: str | None = None, address: Any = None) -> McpContent:
    """Tool with JSON Schema 2020-12 features"""
    return _text(f"name={name} address={address}")


def _with_raw_schemas(declared: BuiltinRegistry) -> BuiltinRegistry:
    """Two fixtures need input schemas no Python signature spells: replace them verbatim."""
    header = declared.get("test_header_param")
    header_schema = {
        "type": "object",
        "properties": {
            "region": {
                "type": "string",
                "description": "Mirrored as Mcp-Param-Region.",
                "x-mcp-header": "Region",
            }
        },
        "required": ["region"],
        "additionalProperties": False,
    }
    modern = declared.get("json_schema_2020_12_tool")
    modern_schema = {
        "$schema": SCHEMA_2020_12,
        "type": "object",
        "$defs": {
            "address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
            }
        },
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": False,
    }
    replaced = BuiltinRegistry()
    for op in declared:
        if op is header:
            op = dataclasses.replace(op, input_schema=header_schema)
        elif op is modern:
            op = dataclasses.replace(op, input_schema=modern_schema)
        replaced.add(op)
    return replaced


registry = _with_raw_schemas(_fixtures)
"""The profile's registry (what `BUILTINS.add_profile("conformance", ...)` loads)."""
