"""An upstream's `CallToolResult` as the core's `ToolResult`, size-capped and scrubbed.

    to_result(upstream, result, max_bytes, scrub) -> ToolResult

Every content kind crosses (text, image, audio, resource link, embedded resource), with
`structuredContent` and `isError`. Block `annotations` and `_meta` do not: the core's blocks do not
carry them (docs/federation.md). A result whose JSON is over `max_bytes` fails the call with
`UpstreamError` (`reason: too_large`, `limit_bytes`); a block of a kind the core does not know
fails it with `reason: malformed`. `scrub` removes every known secret from text and data
(an upstream may echo its environment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
import orjson

from toolwire.core.content import ToolResult, block_from_json
from toolwire.core.errors import UpstreamError


def to_result(
    upstream: str,
    result: types.CallToolResult | dict[str, Any],
    max_bytes: int,
    scrub: Callable[[Any], Any],
) -> ToolResult:
    """`result`: the SDK's model, or the result object as the upstream sent it (already
    validated: `direct.DirectCalls`), whose JSON is then measured as sent."""
    raw: dict[str, Any] = (
        result
        if isinstance(result, dict)
        else result.model_dump(by_alias=True, mode="json", exclude_none=True)
    )
    size = len(orjson.dumps(raw))
    if size > max_bytes:
        raise UpstreamError(
            f"{upstream} returned a result of {size} bytes, over the limit of {max_bytes}",
            details={"upstream": upstream, "reason": "too_large", "limit_bytes": max_bytes},
        )
    raw = scrub(raw)
    try:
        blocks = tuple(block_from_json(block) for block in raw.get("content", ()))
    except (ValueError, KeyError, TypeError):
        raise UpstreamError(
            f"{upstream} returned a content block this gateway cannot carry",
            details={"upstream": upstream, "reason": "malformed"},
        ) from None
    return ToolResult(
        content=blocks,
        structured=raw.get("structuredContent"),
        is_error=bool(raw.get("isError", False)),
    )
