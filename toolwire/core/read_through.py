"""A read-through cache: each key's value is read at most once per `ttl` seconds, and by one
caller at a time (`core.single_flight`).

Used for every value the call path reads from the database and keeps for a few seconds: an
account's receipt balance (`store.balance_cache`), a platform credential (`vault.Vault`), an
account's BYOK credentials (`billing`/`store.byok`). Without the single flight, an entry
expiring under load sends every call in flight to the database for the same row at once (seen
at `wrk -c32`: a burst of connections, and on SQLite a dozen aiosqlite threads made and ended,
every time the entry expired).

A value the process learns from its own write (`put`) or knows to be stale (`forget`) wins over
a read already in flight: that read's result goes to the callers that were waiting for it but is
not kept, and callers arriving after the `put` or `forget` do not join it. A failed read is not
kept. At most `size` keys are kept (the oldest written makes room).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from toolwire.core.single_flight import SingleFlight

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_SIZE = 10_000


class ReadThrough(Generic[K, V]):
    """Values by key with their age (`time.monotonic()`), read with `read(key)` when missing or
    older than `ttl` seconds."""

    def __init__(
        self, read: Callable[[K], Awaitable[V]], ttl: float, *, size: int = DEFAULT_SIZE
    ) -> None:
        self._read = read
        self.ttl = ttl
        """Seconds a value is served without reading it again (0: every `get` reads)."""
        self.size = size
        self._known: dict[K, tuple[V, float]] = {}
        self._generation: dict[K, int] = {}
        self._reading: dict[K, int] = {}  # reads in flight by key (their callers)
        self._reads: SingleFlight[tuple[K, int], V] = SingleFlight()

    async def get(self, key: K) -> V:
        """The value of `key`: kept and younger than `ttl`, else `read(key)`'s (shared with
        every caller asking for `key` meanwhile). Raises what `read` raises."""
        known = self._known.get(key)
        if known is not None and time.monotonic() - known[1] < self.ttl:
            return known[0]
        generation = self._generation.get(key, 0)
        reading = self._reading
        reading[key] = reading.get(key, 0) + 1
        try:
            value = await self._reads.run((key, generation), lambda: self._read(key))
        finally:
            if reading[key] == 1:
                del reading[key]
            else:
                reading[key] -= 1
        if self._generation.get(key, 0) == generation:
            self._keep(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        """`value` is `key`'s as of now (the process wrote it or saw it committed)."""
        self._bump(key)
        self._keep(key, value)

    def forget(self, key: K) -> None:
        """`key`'s value changed in a way this process did not see the result of."""
        self._bump(key)
        self._known.pop(key, None)

    def _bump(self, key: K) -> None:
        generations = self._generation
        generations[key] = generations.get(key, 0) + 1
        if len(generations) > 2 * self.size:
            # A counter matters only while its key is kept or read: drop the others.
            known, reading = self._known, self._reading
            for stale in [k for k in generations if k not in known and k not in reading]:
                if stale != key:
                    del generations[stale]

    def _keep(self, key: K, value: V) -> None:
        known = self._known
        if key not in known and len(known) >= self.size:
            known.pop(next(iter(known)))
        known[key] = (value, time.monotonic())
