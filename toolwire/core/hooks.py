"""Named hook points around the invoke step, for optional extras (tracing, caching, redaction of
results, argument defaults). Never for money: they run inside step 8 (invoke), after the
reservation and before settlement, and cannot see or change a charge.

    before_invoke(operation, arguments, ctx) -> arguments     in registration order
    after_invoke(operation, arguments, ctx, result) -> result in reverse order (like unwinding)

A hook that raises fails the call like the upstream would: a `ToolwireError` as itself, anything
else as `UPSTREAM_ERROR` (the gateway logs it). `result` is a `ToolResult`. The shape follows
fastmcp's `on_call_tool` middleware, split into its two halves so the call path stays one
readable function (docs/design/mcp-kernel-and-adapter-port.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from toolwire.core.content import ToolResult
from toolwire.core.ports import InvokeContext

if TYPE_CHECKING:
    from toolwire.core.catalog import Operation


class BeforeInvoke(Protocol):
    async def __call__(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> dict[str, Any]: ...


class AfterInvoke(Protocol):
    async def __call__(
        self,
        operation: Operation,
        arguments: dict[str, Any],
        ctx: InvokeContext,
        result: ToolResult,
    ) -> ToolResult: ...


@dataclass(frozen=True, slots=True)
class InvokeHooks:
    """The hooks a gateway runs around every invocation (none by default)."""

    before: tuple[BeforeInvoke, ...] = ()
    after: tuple[AfterInvoke, ...] = ()

    async def run_before(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> dict[str, Any]:
        for hook in self.before:
            arguments = await hook(operation, arguments, ctx)
        return arguments

    async def run_after(
        self,
        operation: Operation,
        arguments: dict[str, Any],
        ctx: InvokeContext,
        result: ToolResult,
    ) -> ToolResult:
        for hook in reversed(self.after):
            result = await hook(operation, arguments, ctx, result)
        return result
