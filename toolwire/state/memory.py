"""`memory://`: the state backend of a single process.

Keys expire lazily on read and are swept on write, so memory stays proportional to the live
keys. Channels deliver to subscribers in this process only: with several instances, use Redis.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import heapq
import time
from collections import deque
from collections.abc import AsyncIterator

_SUBSCRIBER_QUEUE = 1024
"""Messages buffered per slow subscriber before the oldest are dropped."""


class MemoryState:
    """Dicts with deadlines, a heap to sweep them, and in-process queues for channels."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, bytes]] = {}
        self._logs: dict[str, tuple[float, int, deque[tuple[int, bytes]]]] = {}
        self._sets: dict[str, tuple[float, builtins.set[bytes]]] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._channels: dict[str, set[asyncio.Queue[bytes | None]]] = {}

    def __len__(self) -> int:
        """Live keys and logs (what a memory test watches)."""
        self._sweep()
        return len(self._values) + len(self._logs) + len(self._sets)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        deadline = time.monotonic() + ttl_s
        self._values[key] = (deadline, value)
        self._remember(deadline, key)

    async def get(self, key: str) -> bytes | None:
        hit = self._values.get(key)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            del self._values[key]
            return None
        return hit[1]

    async def append(self, key: str, value: bytes, ttl_s: float, max_len: int) -> int:
        deadline = time.monotonic() + ttl_s
        _, seq, entries = self._logs.get(key, (0.0, 0, deque(maxlen=max_len)))
        seq += 1
        entries.append((seq, value))
        self._logs[key] = (deadline, seq, entries)
        self._remember(deadline, key)
        return seq

    async def read_after(self, key: str, after: int) -> list[tuple[int, bytes]]:
        log = self._logs.get(key)
        if log is None or log[0] <= time.monotonic():
            return []
        return [(seq, value) for seq, value in log[2] if seq > after]

    async def set_add(self, key: str, member: bytes, ttl_s: float, max_members: int) -> int:
        members = self._live_set(key)
        deadline = time.monotonic() + ttl_s
        if member in members:
            added = 0
        elif len(members) >= max_members:
            return -1
        else:
            members.add(member)
            added = 1
        self._sets[key] = (deadline, members)
        self._remember(deadline, key)
        return added

    async def set_remove(self, key: str, member: bytes) -> bool:
        members = self._live_set(key)
        if member not in members:
            return False
        members.discard(member)
        return True

    async def set_members(self, key: str) -> frozenset[bytes]:
        return frozenset(self._live_set(key))

    async def set_has(self, key: str, member: bytes) -> bool:
        return member in self._live_set(key)

    def _live_set(self, key: str) -> builtins.set[bytes]:
        hit = self._sets.get(key)
        if hit is None:
            return builtins.set()
        if hit[0] <= time.monotonic():
            del self._sets[key]
            return builtins.set()
        return hit[1]

    async def publish(self, channel: str, message: bytes) -> None:
        for queue in self._channels.get(channel, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(_SUBSCRIBER_QUEUE)
        self._channels.setdefault(channel, set()).add(queue)
        try:
            yield _drain(queue)
        finally:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._channels[channel]

    async def close(self) -> None:
        for subscribers in self._channels.values():
            for queue in subscribers:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)
        self._values.clear()
        self._logs.clear()
        self._sets.clear()
        self._deadlines.clear()

    def _remember(self, deadline: float, key: str) -> None:
        heapq.heappush(self._deadlines, (deadline, key))
        self._sweep()

    def _sweep(self) -> None:
        """Drop expired keys whose deadline has passed (amortised O(log n) per write)."""
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, key = heapq.heappop(self._deadlines)
            value = self._values.get(key)
            if value is not None and value[0] <= now:
                del self._values[key]
            log = self._logs.get(key)
            if log is not None and log[0] <= now:
                del self._logs[key]
            members = self._sets.get(key)
            if members is not None and members[0] <= now:
                del self._sets[key]
        live = len(self._values) + len(self._logs) + len(self._sets)
        if len(self._deadlines) > 2 * live + 1024:
            self._deadlines = [
                (d, k)
                for d, k in self._deadlines
                if k in self._values or k in self._logs or k in self._sets
            ]
            heapq.heapify(self._deadlines)


async def _drain(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (message := await queue.get()) is not None:
        yield message
