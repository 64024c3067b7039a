"""A tool that fails with any error code on demand, so SDK tests (the TypeScript SDK's among them)
can see every code the gateway has, rendered by a real door, and a tool that overruns its timeout.

builtins:
  modules: ["tests.support.error_tools"]
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

from toolwire.core.errors import BY_CODE, InvalidArguments
from toolwire.upstream.builtin import BuiltinRegistry

registry = BuiltinRegistry()

HANG_TIMEOUT_S = 0.3
"""`errors.hang` sleeps past this timeout, so the gateway answers UPSTREAM_TIMEOUT."""


@registry.operation("errors", "raise", category="testing", tool_description="Fails on demand.")
def raise_code(
    code: Annotated[str, Field(description="a gateway error code, e.g. RATE_LIMITED")],
    retry_after_s: Annotated[int | None, Field(ge=1, description="retry delay to report")] = None,
) -> dict[str, str]:
    """Fail with the error class of `code` (details carry `retry_after_s` when given)."""
    cls = BY_CODE.get(code)
    if cls is None:
        raise InvalidArguments(f"unknown error code {code!r}", details={"codes": sorted(BY_CODE)})
    details = {"retry_after_s": retry_after_s} if retry_after_s is not None else None
    raise cls(f"{code} raised on request", details=details)


@registry.operation("errors", "hang", timeout=HANG_TIMEOUT_S)
async def hang(seconds: Annotated[float, Field(ge=0, le=60)] = 30.0) -> dict[str, float]:
    """Sleep past this operation's timeout."""
    await asyncio.sleep(seconds)
    return {"slept": seconds}
