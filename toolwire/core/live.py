"""The live catalog: the catalog new calls start on, swapped whole on a reload, and the old
catalogs' adapters closed only once the calls that hold them have finished.

What it is: `LiveCatalog`, which `Gateway` holds. A call takes a lease on the current
generation (`acquire`) for its whole run and gives it back at the end (`release`); `swap`
installs a new catalog for every call that starts afterwards. A replaced generation is retired:
when its last lease is given back, each of its adapters that no live generation still uses is
closed (`Adapter.aclose`), once. So a call in flight finishes on the catalog it started on, with
its adapter's connections open, and nothing leaks: every adapter is closed exactly once, by the
last generation that held it, or by `aclose` when the process stops.

What it is not: where a new catalog comes from (`toolwire.reload` builds it from the catalog
file) or who is told of the change (`Gateway.on_catalog_changed`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from toolwire.core.catalog import Catalog, Operation
from toolwire.core.ports import Adapter

log = logging.getLogger("toolwire.gateway")


@dataclass(eq=False, slots=True)
class Generation:
    """One catalog as served between two swaps, with the calls that hold it."""

    catalog: Catalog
    version: str
    leases: int = 0
    retired: bool = False
    closed: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once its adapters are closed."""


class LiveCatalog:
    """The current catalog and version, and the retired ones still in use by calls in flight."""

    def __init__(self, catalog: Catalog, version: str = "") -> None:
        self._current = Generation(catalog, version)
        self._retired: list[Generation] = []
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def catalog(self) -> Catalog:
        """The catalog new calls start on."""
        return self._current.catalog

    @property
    def version(self) -> str:
        """The current catalog's version (`toolwire.reload.catalog_version`; "" when unknown)."""
        return self._current.version

    @property
    def retired(self) -> int:
        """Replaced generations whose calls have not all finished yet."""
        return len(self._retired)

    def acquire(self) -> Generation:
        """A lease on the current generation, for one call; give it back with `release`."""
        generation = self._current
        generation.leases += 1
        return generation

    def release(self, generation: Generation) -> None:
        """Give a lease back; the last one of a retired generation closes its adapters (in a
        task of its own, so the call that finished last is not held up by the closing)."""
        generation.leases -= 1
        if generation.retired and generation.leases == 0:
            task = asyncio.get_running_loop().create_task(self._close(generation))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def swap(self, catalog: Catalog, version: str = "") -> Catalog:
        """Serve `catalog` (at `version`) to every call that starts from now on; returns the
        catalog it replaced. The replaced one's adapters close when its last call finishes
        (now, when none is running). Swapping in the current catalog only updates the version."""
        old = self._current
        if catalog is old.catalog:
            old.version = version or old.version
            return catalog
        self._current = Generation(catalog, version)
        old.retired = True
        self._retired.append(old)
        if old.leases == 0:
            await self._close(old)
        return old.catalog

    async def drained(self) -> None:
        """Wait until every retired generation is closed (bound it with `asyncio.timeout`)."""
        while self._retired or self._closing:
            waiting = [g.done.wait() for g in self._retired]
            await asyncio.gather(*waiting, *self._closing, return_exceptions=True)

    async def aclose(self) -> None:
        """Close every adapter of every generation, in use or not (the process is stopping:
        its calls have ended or been cancelled)."""
        open_ = [g for g in (*self._retired, self._current) if not g.closed]
        self._retired.clear()
        await _close_adapters([op for g in open_ for op in g.catalog], in_use=set())
        for generation in open_:
            generation.closed = generation.retired = True
            generation.done.set()

    async def _close(self, generation: Generation) -> None:
        """Close the adapters of `generation` that no other open generation still uses."""
        if generation.closed:
            return
        generation.closed = True
        if generation in self._retired:
            self._retired.remove(generation)
        others = (self._current, *self._retired)
        in_use = {id(op.adapter) for g in others if not g.closed for op in g.catalog}
        await _close_adapters(list(generation.catalog), in_use=in_use)
        generation.done.set()


async def close_unused(catalog: Catalog, *, keep: Catalog) -> None:
    """Close the adapters of `catalog` that `keep` does not use: for a catalog that was built
    and is not going to be served (a reload that found nothing changed)."""
    await _close_adapters(list(catalog), in_use={id(op.adapter) for op in keep})


async def _close_adapters(operations: list[Operation], *, in_use: set[int]) -> None:
    """`aclose()` once on each distinct adapter of `operations` not in `in_use` (by id); a
    failure is logged and the others still close."""
    seen = set(in_use)
    for op in operations:
        adapter: Adapter = op.adapter
        if id(adapter) in seen:
            continue
        seen.add(id(adapter))
        try:
            await adapter.aclose()
        except Exception:
            log.exception("closing the adapter of %s failed", op.qualified)
