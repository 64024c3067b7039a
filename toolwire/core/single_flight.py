"""One read in flight per key: callers asking for the same key meanwhile share its result.

Used where a cache entry missing or expired under load would otherwise send every call in
flight to the database for the same row (a key's principal, `store.keys`; every
`core.read_through` cache: receipt balances, vault and BYOK credentials, an OIDC provider's
documents). The read runs in a task of its own, awaited shielded: a caller
that leaves does not cancel the read the others share; its failure reaches every caller waiting
then, and is not kept (the next caller reads again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Reads in flight by key."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """`read()`'s result for `key`: the one already running for it, else a new one."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._tracked(key, read))
            task.add_done_callback(_retrieve)
            self._running[key] = task
        return await asyncio.shield(task)

    async def _tracked(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        try:
            return await read()
        finally:
            del self._running[key]


def _retrieve(task: asyncio.Task[V]) -> None:
    # Mark a failed shared read's exception as seen even if every caller went away.
    if not task.cancelled():
        task.exception()
