"""Tools the rate-limit and policy tests call (the door matrix through every door, and
tests/e2e/test_rate_limits.py), loaded by their gateways through `builtins.modules`; each test's
catalog sets the limit or the policy:

    limited.throttled  answers; the catalogs allow each key one call an hour (RATE_LIMITED)
    limited.fetch      echoes a URL; the door matrix's policy allows only example.com
                       (POLICY_DENIED)

builtins:
  modules: ["tests.support.limit_tools"]
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from toolwire.upstream.builtin import BuiltinRegistry

registry = BuiltinRegistry()


@registry.operation(
    "limited", "throttled", category="testing", tool_description="Limit and policy tools."
)
def throttled() -> dict[str, bool]:
    """Answer; the test's catalog limits how often."""
    return {"ok": True}


@registry.operation("limited", "fetch")
def fetch(url: Annotated[str, Field(description="a URL")]) -> dict[str, str]:
    """Echo the URL; the test's policy says which domains it may name."""
    return {"url": url}
