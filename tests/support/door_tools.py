"""Tools the door-matrix suite (tests/inbound/door_matrix) calls through every door, loaded by
its gateway through `builtins.modules`:

    matrix.add    a + b; priced by the suite's config, the call whose receipt and audit are checked
    matrix.wait   sleeps `seconds` (a priced call to cancel while its credits are reserved)
    matrix.stall  sleeps past its own 0.3 s timeout (a priced call that times out)
    hidden.peek   a tool the suite's limited key is not scoped for

builtins:
  modules: ["tests.support.door_tools"]
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

from toolwire.upstream.builtin import BuiltinRegistry

registry = BuiltinRegistry()

STALL_TIMEOUT_S = 0.3


@registry.operation("matrix", "add", category="testing", tool_description="Door-matrix tools.")
def add(
    a: Annotated[int, Field(description="first term")],
    b: Annotated[int, Field(description="second term")],
) -> dict[str, int]:
    """Add two integers."""
    return {"sum": a + b}


@registry.operation("matrix", "wait")
async def wait(
    seconds: Annotated[float, Field(ge=0, le=30, description="how long to wait")] = 2.0,
) -> dict[str, float]:
    """Wait, then answer: a call that is still running when a client cancels it."""
    await asyncio.sleep(seconds)
    return {"waited": seconds}


@registry.operation("matrix", "stall", timeout=STALL_TIMEOUT_S)
async def stall(
    seconds: Annotated[float, Field(ge=0, le=30, description="how long to stall")] = 10.0,
) -> dict[str, float]:
    """Sleep past this operation's timeout: the gateway gives up on it."""
    await asyncio.sleep(seconds)
    return {"stalled": seconds}


@registry.operation("hidden", "peek", category="testing", tool_description="Out of scope.")
def peek() -> dict[str, bool]:
    """Answer; only keys scoped for `hidden` may call it."""
    return {"seen": True}
