"""`echo`: returns what it is given. For connection checks, tests and benchmarks, so it stays
as cheap as a tool can be: a sync function run inline, no thread hop."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from toolwire.upstream.builtin.registry import BuiltinRegistry

registry = BuiltinRegistry()


class Echoed(TypedDict):
    echo: Annotated[str, Field(description="The message, unchanged.")]
    data: Annotated[Any, Field(description="The data, unchanged (null when none was given).")]


@registry.operation(
    "echo",
    category="utility",
    title="Echo",
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
)
def echo(
    message: Annotated[str, Field(description="Any text; it is returned unchanged.")],
    data: Annotated[
        Any, Field(description="Optional JSON value of any type, returned unchanged.")
    ] = None,
) -> Echoed:
    """Return the message (and optional data) unchanged. Use it to check that the gateway, the
    key and the round trip work."""
    return {"echo": message, "data": data}
