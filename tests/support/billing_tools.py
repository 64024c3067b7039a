"""A test tool that needs a provider credential, for BYOK tests: it answers with a hash of the
credential it was given, so a test can tell whose key reached it without the key appearing.

builtins:
  modules: ["tests.support.billing_tools"]
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence

from toolwire.core.catalog import ToolSpec
from toolwire.core.ports import InvokeContext
from toolwire.upstream.builtin import BuiltinRegistry

PROVIDER = "acme"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class _CredentialedRegistry(BuiltinRegistry):
    """Declares that every operation of `acme` needs the `acme` provider's credential."""

    def specs(
        self, prices: Mapping[str, int] | None = None, profiles: Sequence[str] = ()
    ) -> list[ToolSpec]:
        tools = super().specs(prices, profiles)
        return [
            dataclasses.replace(
                tool,
                operations=tuple(
                    dataclasses.replace(op, credentials={"token": PROVIDER})
                    for op in tool.operations
                ),
            )
            for tool in tools
        ]


registry = _CredentialedRegistry()


@registry.operation("acme", "whoami", category="testing", tool_description="Needs a key.")
async def whoami(ctx: InvokeContext) -> dict[str, str]:
    """Answer with the sha256 of the credential this call was given."""
    return {"credential_sha256": digest(ctx.credentials["token"])}
