"""What a catalog reload does to federated MCP servers (the `mcp:` section), for `toolwire.reload`.

    change = compare(running, built)     # which of the freshly built sources to use
    await start_all(change.started, gateway.catalog_changed, vault.get, wait_s)
    ... swap the catalog composed from change.sources ...
    await retire(change.retired, gateway.live, drain_s)

A source whose entry is unchanged (the same name and an equal `spec`) keeps running: its
sessions, processes, pins and subscriptions stay, and the freshly built twin is dropped unstarted.
A new entry is started; a changed one is started anew beside the old one, and the new one serves
every call that starts after the swap. A removed or replaced source is closed only once the calls
in flight on the catalogs that held it have finished (`LiveCatalog.drained`), at most `drain_s`
seconds; after that it is closed anyway, and a call still on it fails with `UPSTREAM_ERROR`
(`connection_lost`), as when the server dies mid-call. Its resource subscriptions are not carried
over: a client subscribes again (docs/federation.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from toolwire.core.federated import ContentSource
from toolwire.core.live import LiveCatalog
from toolwire.core.ports import CatalogChanged, OperationSource, SecretLookup

log = logging.getLogger("toolwire.reload")


async def no_secrets(_name: str) -> str | None:
    """A `SecretLookup` for a gateway without a vault."""
    return None


def _same(old: OperationSource, new: OperationSource) -> bool:
    """Whether `new` is configured exactly as the running `old` (compared by its `spec`)."""
    if type(old) is not type(new):
        return False
    return bool(old.spec == new.spec)


@dataclass
class SourceChange:
    sources: list[OperationSource] = field(default_factory=list)
    """The sources to serve, in the new config's order: running ones kept, fresh ones started."""
    started: list[OperationSource] = field(default_factory=list)
    """Fresh sources to start."""
    unused: list[OperationSource] = field(default_factory=list)
    """Fresh twins of kept sources: never started, closed at once (`close_all`)."""
    retired: list[OperationSource] = field(default_factory=list)
    """Running sources removed or replaced: closed once their calls have finished."""

    def content(self, built: Sequence[ContentSource]) -> list[ContentSource]:
        """The content sources to serve: of `built` (the fresh plan's), the object chosen for
        each name (the running one when kept)."""
        chosen = {s.name: s for s in self.sources}
        return [cast(ContentSource, chosen[s.name]) for s in built if s.name in chosen]


def compare(running: Sequence[OperationSource], built: Sequence[OperationSource]) -> SourceChange:
    """Which sources to keep, start and retire when `built` (fresh from the file) replaces
    `running`."""
    by_name = {s.name: s for s in running}
    change = SourceChange()
    for new in built:
        old = by_name.pop(new.name, None)
        if old is not None and _same(old, new):
            change.sources.append(old)
            change.unused.append(new)
            continue
        change.sources.append(new)
        change.started.append(new)
        if old is not None:
            change.retired.append(old)
    change.retired.extend(by_name.values())
    return change


async def start_all(
    started: Sequence[OperationSource],
    changed: CatalogChanged,
    secrets: SecretLookup,
    wait_s: float,
) -> None:
    """Start the new sources at once; returns when each discovered its tools or `wait_s`
    passed (one that is down keeps retrying, as at start)."""
    await asyncio.gather(*(s.start(changed, secrets, wait_s) for s in started))


async def close_all(sources: Sequence[OperationSource]) -> None:
    for source in sources:
        try:
            await source.aclose()
        except Exception:
            log.exception("closing upstream %s failed", source.name)


async def retire(sources: Sequence[OperationSource], live: LiveCatalog, drain_s: float) -> None:
    """Close `sources` once the retired catalogs' calls have finished (at most `drain_s`
    seconds); closed even when this task is cancelled (the process is stopping)."""
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await live.drained()
    finally:
        await asyncio.shield(close_all(sources))
        log.info("MCP upstreams closed after the reload: %s", [s.name for s in sources])
