"""The `conformance` profile: the fixture tools the official MCP conformance suite calls by name.

Off by default; enable with `toolwire serve --profile conformance` (or `builtins.profiles` in the
catalog file). These tools exist to exercise the MCP door (content types, progress, logging,
errors, list-changed notifications, header mirroring), not to be useful: never enable the
profile on a gateway that serves real agents.

They use the adapter port as any adapter does: they return the core's neutral `ToolResult`
(content blocks; the MCP door renders them as MCP blocks, REST and OpenAI as JSON), and reach
the caller through `InvokeContext`: `log()`, `progress()`, `client_capabilities` and the
`catalog_changed` hook (on doors with nowhere to send logs, `log()` does nothing).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import struct
from typing import Annotated, Any

from pydantic import Field

from toolwire.core.content import (
    AudioBlock,
    EmbeddedResource,
    ImageBlock,
    TextBlock,
    ToolResult,
)
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


def _silence_wav() -> str:
    """A valid 8 kHz mono 16-bit WAV of 8 silent samples, base64."""
    samples = b"\x00\x00" * 8
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    return base64.b64encode(header + b"data" + struct.pack("<I", len(samples)) + samples).decode()


def _text(value: str) -> ToolResult:
    return ToolResult(content=(TextBlock(value),))


@_fixtures.operation("test_simple_text", category="conformance", read_only=True)
def simple_text() -> ToolResult:
    """Conformance fixture: returns one text block."""
    return _text("This is a simple text response for testing.")


@_fixtures.operation("test_image_content", category="conformance", read_only=True)
def image_content() -> ToolResult:
    """Conformance fixture: returns a 1x1 PNG image block."""
    return ToolResult(content=(ImageBlock(RED_PIXEL_PNG, "image/png"),))


@_fixtures.operation("test_audio_content", category="conformance", read_only=True)
def audio_content() -> ToolResult:
    """Conformance fixture: returns a short WAV audio block."""
    return ToolResult(content=(AudioBlock(_silence_wav(), "audio/wav"),))


@_fixtures.operation("test_embedded_resource", category="conformance", read_only=True)
def embedded_resource() -> ToolResult:
    """Conformance fixture: returns an embedded text resource."""
    resource = EmbeddedResource(
        uri="test://embedded-resource",
        mime_type="text/plain",
        text="This is an embedded resource content.",
    )
    return ToolResult(content=(resource,))


@_fixtures.operation("test_multiple_content_types", category="conformance", read_only=True)
def multiple_content_types() -> ToolResult:
    """Conformance fixture: returns text, image and resource blocks."""
    resource = EmbeddedResource(
        uri="test://mixed-content-resource",
        mime_type="application/json",
        text='{"test":"data","value":123}',
    )
    return ToolResult(
        content=(
            TextBlock("Multiple content types test:"),
            ImageBlock(RED_PIXEL_PNG, "image/png"),
            resource,
        )
    )


@_fixtures.operation("test_tool_with_logging", category="conformance", read_only=True)
async def tool_with_logging(ctx: InvokeContext) -> ToolResult:
    """Conformance fixture: sends three info log messages while it runs."""
    await ctx.log("info", "Tool execution started")
    await asyncio.sleep(STEP_S)
    await ctx.log("info", "Tool processing data")
    await asyncio.sleep(STEP_S)
    await ctx.log("info", "Tool execution completed")
    return _text("Tool with logging executed successfully")


@_fixtures.operation("test_logging_tool", category="conformance", read_only=True)
async def logging_tool(ctx: InvokeContext) -> ToolResult:
    """Conformance fixture: logs at every level (sent only to clients that asked for logs)."""
    for level in ("debug", "info", "warning", "error"):
        await ctx.log(level, f"{level} message")
    return _text("logged")


@_fixtures.operation("test_tool_with_progress", category="conformance", read_only=True)
async def tool_with_progress(ctx: InvokeContext) -> ToolResult:
    """Conformance fixture: reports progress 0, 50 and 100 of 100."""
    for step in (0, 50, 100):
        await ctx.progress(step, 100)
        if step < 100:
            await asyncio.sleep(STEP_S)
    return _text("Tool with progress executed successfully")


@_fixtures.operation("test_error_handling", category="conformance", read_only=True)
def error_handling() -> ToolResult:
    """Conformance fixture: always fails (reported as a tool error, isError: true)."""
    raise UpstreamError("This tool intentionally returns an error for testing")


@_fixtures.operation("test_missing_capability", category="conformance", read_only=True)
def missing_capability(ctx: InvokeContext) -> ToolResult:
    """Conformance fixture: needs the client's sampling capability, which it never uses."""
    if "sampling" not in ctx.client_capabilities:
        raise MissingClientCapability(
            "this tool needs the client's sampling capability",
            details={"requiredCapabilities": {"sampling": {}}},
        )
    return _text("the client declared sampling")


@_fixtures.operation("test_streaming_elicitation", category="conformance", read_only=True)
def streaming_elicitation() -> ToolResult:
    """Conformance fixture: answers without sending the client any request of its own."""
    return _text("no elicitation needed")


@_fixtures.operation("test_trigger_tool_change", category="conformance")
async def trigger_tool_change(ctx: InvokeContext) -> ToolResult:
    """Conformance fixture: announces that the tool list changed (the catalog-changed hook; the
    gateway re-reads the catalog and MCP clients get `notifications/tools/list_changed`)."""
    await ctx.catalog_changed()
    return _text("tools/list_changed sent")


@_fixtures.operation("test_wait", category="conformance", read_only=True)
async def wait(
    ctx: InvokeContext,
    seconds: Annotated[float, Field(ge=0, le=60, description="How long to run.")] = 30.0,
) -> ToolResult:
    """Conformance fixture: reports progress, then runs until done or cancelled."""
    await ctx.progress(0, seconds)
    await asyncio.sleep(seconds)
    return _text("waited")


@_fixtures.operation("test_header_param", category="conformance", read_only=True)
def header_param(
    region: Annotated[str, Field(description="Mirrored as Mcp-Param-Region.")],
) -> ToolResult:
    """Conformance fixture: a parameter mirrored into an HTTP header (x-mcp-header)."""
    return _text(f"region={region}")


@_fixtures.operation("json_schema_2020_12_tool", category="conformance", read_only=True)
def json_schema_2020_12_tool(name: str | None = None, address: Any = None) -> ToolResult:
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
