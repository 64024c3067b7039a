"""What an adapter's `invoke()` may return besides plain JSON data: a protocol-neutral result.

    ToolResult(content=(blocks...), structured=<JSON or None>, is_error=False)

    ContentBlock = TextBlock | ImageBlock | AudioBlock | ResourceLink | EmbeddedResource

The block kinds are MCP's (2025-06-18 `ContentBlock`), because MCP is the richest door; the core
keeps them as frozen dataclasses and every door renders them (`inbound/mcp/content.py` as MCP
blocks, REST and OpenAI as the JSON shape `to_json` gives, documented in docs/rest.md). Plain JSON
data from an adapter is shorthand for `ToolResult(structured=data)` with no blocks.

`is_error=True` is a tool-level failure the upstream reported (MCP `isError`): the core turns it
into `UpstreamError` (`details.reason == "tool_error"`), settled like any other failure.

What this is not: wire encoding (no base64 decoding, no MIME sniffing; `data` stays base64 text).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True)
class ImageBlock:
    data: str
    """Base64 of the image bytes."""
    mime_type: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "image", "data": self.data, "mimeType": self.mime_type}


@dataclass(frozen=True, slots=True)
class AudioBlock:
    data: str
    """Base64 of the audio bytes."""
    mime_type: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "audio", "data": self.data, "mimeType": self.mime_type}


@dataclass(frozen=True, slots=True)
class ResourceLink:
    """A pointer to a resource the client may fetch; its content is not included."""

    uri: str
    name: str
    description: str | None = None
    mime_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "resource_link", "uri": self.uri, "name": self.name}
        if self.description is not None:
            body["description"] = self.description
        if self.mime_type is not None:
            body["mimeType"] = self.mime_type
        return body


@dataclass(frozen=True, slots=True)
class EmbeddedResource:
    """A resource's content, included: `text`, or `blob` (base64) for binary content."""

    uri: str
    text: str | None = None
    blob: str | None = None
    mime_type: str | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.blob is None):
            raise ValueError("an embedded resource has exactly one of text and blob")

    def to_json(self) -> dict[str, Any]:
        resource: dict[str, Any] = {"uri": self.uri}
        if self.mime_type is not None:
            resource["mimeType"] = self.mime_type
        if self.text is not None:
            resource["text"] = self.text
        else:
            resource["blob"] = self.blob
        return {"type": "resource", "resource": resource}


ContentBlock = TextBlock | ImageBlock | AudioBlock | ResourceLink | EmbeddedResource


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's result as content blocks, optional structured content (JSON) and an error flag."""

    content: tuple[ContentBlock, ...] = ()
    structured: Any = None
    is_error: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)

    def blocks_json(self) -> list[dict[str, Any]]:
        return [block.to_json() for block in self.content]


def text(value: str) -> ToolResult:
    """A result of one text block."""
    return ToolResult(content=(TextBlock(value),))


def block_from_json(raw: Mapping[str, Any]) -> ContentBlock:
    """The block `to_json` wrote (a stored idempotent outcome); `ValueError` for anything else."""
    kind = raw.get("type")
    if kind == "text":
        return TextBlock(str(raw["text"]))
    if kind == "image":
        return ImageBlock(str(raw["data"]), str(raw["mimeType"]))
    if kind == "audio":
        return AudioBlock(str(raw["data"]), str(raw["mimeType"]))
    if kind == "resource_link":
        return ResourceLink(
            str(raw["uri"]), str(raw["name"]), raw.get("description"), raw.get("mimeType")
        )
    if kind == "resource":
        res = raw["resource"]
        return EmbeddedResource(
            str(res["uri"]), res.get("text"), res.get("blob"), res.get("mimeType")
        )
    raise ValueError(f"not a content block: {kind!r}")
