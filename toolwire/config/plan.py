"""The catalog as a plan: static tools (built-ins, HTTP, OpenAPI, SQL; priced) plus operation
sources (federated MCP servers) whose tools are discovered at run time.

    plan = build_plan(config)                 # toolwire.config
    gateway = Gateway(plan.compose(), ..., compose=plan.compose)
    await plan.start(gateway.catalog_changed, vault.get, wait_s=10)
    plan.status()                             # one entry per source, for /readyz and the CLI
    await plan.aclose()

`compose()` builds a new immutable `Catalog` from the static tools and every source's current
`operations()`; the gateway calls it whenever a source says its tools changed. A source never
fails the whole catalog: its tools are namespaced by its own name (checked unique at config
time), and bare tool names that several upstreams (or a built-in) share are logged once as a
warning naming how each is told apart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from toolwire.core.catalog import Catalog, ToolSpec
from toolwire.core.federated import ContentSource
from toolwire.core.policy import Policy
from toolwire.core.ports import CatalogChanged, OperationSource, SecretLookup
from toolwire.core.ratelimits import LimitRules

log = logging.getLogger("toolwire.config")


@dataclass
class CatalogPlan:
    static: Sequence[ToolSpec]
    sources: Sequence[OperationSource] = ()
    content: Sequence[ContentSource] = ()
    """The sources that also serve resources and prompts (`core.federated.Federation`)."""
    policy: Policy = field(default_factory=Policy)
    """The catalog's `policy` section, carried into every composed catalog."""
    limits: LimitRules = field(default_factory=LimitRules)
    """The catalog's `limits` section, carried into every composed catalog."""
    _warned: set[str] = field(default_factory=set)

    def compose(self) -> Catalog:
        tools = list(self.static)
        for source in self.sources:
            tools.extend(source.operations())
        self._warn_collisions(tools)
        return Catalog(tools, policy=self.policy, limits=self.limits)

    def _warn_collisions(self, tools: Sequence[ToolSpec]) -> None:
        owners: dict[str, list[str]] = {}
        for tool in tools:
            for op in tool.operations:
                bare = tool.name if op.name == tool.name else op.name
                owners.setdefault(bare, []).append(
                    tool.name if op.name == tool.name else f"{tool.name}.{op.name}"
                )
        for bare, names in sorted(owners.items()):
            if len(names) > 1 and bare not in self._warned and any("." in n for n in names):
                self._warned.add(bare)
                log.warning(
                    "tool name %r is served by several upstreams; they are told apart by "
                    "namespace: %s",
                    bare,
                    ", ".join(sorted(names)),
                )

    async def start(self, changed: CatalogChanged, secrets: SecretLookup, wait_s: float) -> None:
        """Start every source at once; returns when each has discovered its tools or `wait_s`
        passed (an upstream that is down keeps retrying in the background)."""
        if self.sources:
            await asyncio.gather(*(s.start(changed, secrets, wait_s) for s in self.sources))

    def status(self) -> list[dict[str, Any]]:
        return [dict(source.status()) for source in self.sources]

    async def aclose(self) -> None:
        for source in self.sources:
            try:
                await source.aclose()
            except Exception:
                log.exception("closing upstream %s failed", source.name)
