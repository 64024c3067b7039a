"""Closing adapters: the pooled clients and database pools a catalog's operations hold.

What it is: `close_adapters(catalog)`, called by the app when it stops (and by tests), which
awaits `aclose()` (part of the `Adapter` port) once on every distinct adapter. What it is not:
a registry of adapters; the catalog is the only place they live.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from toolwire.core.catalog import Operation

log = logging.getLogger("toolwire.upstream")


async def close_adapters(operations: Iterable[Operation]) -> None:
    seen: set[int] = set()
    for op in operations:
        if id(op.adapter) in seen:
            continue
        seen.add(id(op.adapter))
        try:
            await op.adapter.aclose()
        except Exception:
            log.exception("closing the adapter of %s failed", op.qualified)
