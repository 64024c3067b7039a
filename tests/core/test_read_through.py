"""`core.read_through.ReadThrough`: one read per key at a time, kept for `ttl`, and a value the
process wrote (`put`) or knows stale (`forget`) wins over a read in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from toolwire.core.read_through import ReadThrough


class Source:
    """A value per key that a test changes, counting reads; a read's answer waits for `gate`."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {"a": 1, "b": 2}
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

    async def read(self, key: str) -> int:
        self.reads += 1
        self.started.set()
        found = self.values.get(key)  # what the database holds when the read runs
        await self.gate.wait()  # ...and the answer still on its way back
        if found is None:
            raise KeyError(key)
        return found


async def at_once(cache: ReadThrough[str, int], source: Source, key: str, n: int) -> list[Any]:
    """`n` callers ask for `key` while the read's answer is held back; what each got."""
    source.gate.clear()
    waiting = [asyncio.ensure_future(cache.get(key)) for _ in range(n)]
    await asyncio.sleep(0)
    source.gate.set()
    return await asyncio.gather(*waiting, return_exceptions=True)


async def test_many_callers_at_once_share_one_read_and_it_is_kept() -> None:
    source = Source()
    cache = ReadThrough[str, int](source.read, 60)
    assert await at_once(cache, source, "a", 20) == [1] * 20
    assert source.reads == 1
    source.values["a"] = 10
    assert await cache.get("a") == 1  # kept: younger than ttl
    assert source.reads == 1


async def test_an_expired_value_is_read_again() -> None:
    source = Source()
    cache = ReadThrough[str, int](source.read, 0)
    assert await cache.get("a") == 1
    source.values["a"] = 10
    assert await cache.get("a") == 10
    assert source.reads == 2


@pytest.mark.parametrize("change", ["put", "forget"])
async def test_a_write_during_a_read_wins_over_it(change: str) -> None:
    source = Source()
    cache = ReadThrough[str, int](source.read, 60)
    source.gate.clear()
    early = asyncio.ensure_future(cache.get("a"))
    await source.started.wait()  # the read has run (its answer is held at the gate)
    source.values["a"] = 5  # the process writes while the old read is in flight
    if change == "put":
        cache.put("a", 5)
    else:
        cache.forget("a")
    late = asyncio.ensure_future(cache.get("a"))  # must not join the old read
    await asyncio.sleep(0)
    source.gate.set()
    assert await early == 1  # the old read answers its own callers...
    assert await late == 5
    assert await cache.get("a") == 5  # ...but its value is not kept


async def test_a_failed_read_reaches_every_waiting_caller_and_is_not_kept() -> None:
    source = Source()
    cache = ReadThrough[str, int](source.read, 60)
    results = await at_once(cache, source, "x", 3)
    assert all(isinstance(r, KeyError) for r in results)
    assert source.reads == 1
    source.values["x"] = 7
    assert await cache.get("x") == 7


async def test_a_caller_that_leaves_does_not_cancel_the_read_others_wait_for() -> None:
    source = Source()
    cache = ReadThrough[str, int](source.read, 60)
    source.gate.clear()
    first = asyncio.ensure_future(cache.get("a"))
    second = asyncio.ensure_future(cache.get("a"))
    await asyncio.sleep(0)
    first.cancel()
    source.gate.set()
    assert await second == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_at_most_size_keys_are_kept_and_counters_stay_bounded() -> None:
    source = Source()
    cache = ReadThrough[str, int](source.read, 60, size=3)
    for i in range(10):
        source.values[f"k{i}"] = i
        assert await cache.get(f"k{i}") == i
        cache.forget(f"k{i}")
        cache.put(f"k{i}", i)
    assert source.reads == 10
    assert await cache.get("k9") == 9  # the newest are kept
    assert source.reads == 10
    assert await cache.get("k0") == 0  # the oldest made room: read again
    assert source.reads == 11
    assert len(cache._known) <= 3
    assert len(cache._generation) <= 2 * 3 + 1
