"""Tools that misbehave on purpose, loaded by test gateways through `builtins.modules`.

builtins:
  modules: ["tests.support.tools"]
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

from toolwire.core.ports import InvokeContext
from toolwire.upstream.builtin import BuiltinRegistry

registry = BuiltinRegistry()

PLANTED = "sk-live-planted-secret-0123456789"
"""Text a crashing tool puts in its exception: it must never reach a response."""


@registry.operation("fail", "crash", category="testing", tool_description="Misbehaving tools.")
def crash(message: Annotated[str, Field(description="ignored")] = "") -> dict[str, str]:
    """Raise an unexpected exception inside the tool."""
    raise RuntimeError(f"tool exploded with {PLANTED}")


@registry.operation("slow", "sleep", category="testing", tool_description="Slow tools.")
async def sleep(
    ctx: InvokeContext,
    seconds: Annotated[float, Field(ge=0, le=60, description="how long to sleep")] = 1.0,
) -> dict[str, float]:
    """Sleep, reporting progress every tenth of the way."""
    steps = 10
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        await ctx.progress(step + 1, steps, "sleeping")
    return {"slept": seconds}
