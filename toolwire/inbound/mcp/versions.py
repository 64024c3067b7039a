"""MCP protocol versions: which ones the door speaks, in which era, and what each one allows.

Versions are an enumerated set, compared by position in `KNOWN`, never as strings. The handshake
era (`initialize`, sessions) runs from 2024-11-05 to 2025-11-25; the modern era (stateless, every
request carries its version in `_meta`) starts with 2026-07-28.
"""

from __future__ import annotations

from typing import Final

HANDSHAKE: Final[tuple[str, ...]] = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN: Final[tuple[str, ...]] = ("2026-07-28",)
KNOWN: Final[tuple[str, ...]] = (*HANDSHAKE, *MODERN)
LATEST_HANDSHAKE: Final = HANDSHAKE[-1]
LEGACY_SSE_DEFAULT: Final = "2024-11-05"
HEADER_DEFAULT: Final = "2025-03-26"
"""What a handshake-era request without `MCP-Protocol-Version` (and no other clue) speaks."""

META_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES: Final = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO: Final = "io.modelcontextprotocol/clientInfo"
META_SERVER_INFO: Final = "io.modelcontextprotocol/serverInfo"
META_LOG_LEVEL: Final = "io.modelcontextprotocol/logLevel"
META_SUBSCRIPTION_ID: Final = "io.modelcontextprotocol/subscriptionId"
META_TOOLWIRE: Final = "io.toolwire/meta"
"""Our own `_meta` key on tool results: request id, credits charged, balance, latency."""
META_TOOLWIRE_ERROR: Final = "io.toolwire/error"
META_IDEMPOTENCY_KEY: Final = "io.toolwire/idempotencyKey"
"""tools/call `_meta` field: the MCP spelling of REST's `Idempotency-Key` header."""


_POSITION: Final = {version: position for position, version in enumerate(KNOWN)}


def at_least(version: str, minimum: str) -> bool:
    """Whether `version` is a known version no older than `minimum` (unknown: False)."""
    position = _POSITION.get(version)
    return position is not None and position >= _POSITION[minimum]


def is_modern(version: str) -> bool:
    return version in MODERN


def negotiate(requested: object) -> str:
    """The handshake version to answer an `initialize` with: the client's when we speak it,
    else our latest handshake version (the client decides whether it can follow)."""
    if isinstance(requested, str) and requested in HANDSHAKE:
        return requested
    return LATEST_HANDSHAKE


def batches_allowed(version: str) -> bool:
    """JSON-RPC batches exist only in 2025-03-26 (added there, removed in 2025-06-18)."""
    return version == "2025-03-26"


def has_structured_output(version: str) -> bool:
    """`outputSchema`, `structuredContent`, `title` and `resource_link` (2025-06-18+)."""
    return at_least(version, "2025-06-18")


def has_annotations(version: str) -> bool:
    """Tool `annotations` and `audio` content (2025-03-26+)."""
    return at_least(version, "2025-03-26")
