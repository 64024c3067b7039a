"""`toolwire.core.deadline.Deadline` keeps `asyncio.Timeout`'s contract: the block is cancelled
when the deadline passes and leaves with `TimeoutError`; never early; another cancellation
propagates as itself; reschedule lifts, moves or fires it; the sweep stops when nothing is armed.
Each behaviour is checked side by side with `asyncio.timeout` where both apply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from toolwire.core import deadline as module
from toolwire.core.deadline import GRAIN_S, Deadline

Kind = Callable[[float | None], Any]
KINDS: list[Kind] = [
    lambda delay: asyncio.timeout(delay),
    lambda delay: Deadline(None if delay is None else asyncio.get_running_loop().time() + delay),
]
IDS = ["asyncio.timeout", "Deadline"]


@pytest.mark.parametrize("make", KINDS, ids=IDS)
async def test_a_block_past_its_deadline_leaves_with_timeout_error_never_early(
    make: Kind,
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError) as caught:
        async with make(0.05) as deadline:
            await asyncio.sleep(10)
    took = loop.time() - started
    assert 0.05 <= took < 0.05 + GRAIN_S + 0.5
    assert deadline.expired()
    assert isinstance(caught.value.__cause__, asyncio.CancelledError)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("make", KINDS, ids=IDS)
async def test_a_block_that_ends_in_time_is_untouched(make: Kind) -> None:
    async with make(5) as deadline:
        await asyncio.sleep(0.01)
    assert not deadline.expired()
    await asyncio.sleep(2 * GRAIN_S)  # nothing fires after the block left


@pytest.mark.parametrize("make", KINDS, ids=IDS)
async def test_another_cancellation_propagates_as_itself(make: Kind) -> None:
    async def body() -> None:
        async with make(0.05):
            await asyncio.sleep(10)

    task = asyncio.create_task(body())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("make", KINDS, ids=IDS)
async def test_an_error_in_the_block_is_not_touched(make: Kind) -> None:
    with pytest.raises(KeyError):
        async with make(5):
            raise KeyError("x")


@pytest.mark.parametrize("make", KINDS, ids=IDS)
async def test_reschedule_lifts_moves_and_fires_the_deadline(make: Kind) -> None:
    loop = asyncio.get_running_loop()
    async with make(0.03) as deadline:
        deadline.reschedule(None)  # lifted: the block outlives the first deadline
        assert deadline.when() is None
        await asyncio.sleep(0.08)
        deadline.reschedule(loop.time() + 5)
        await asyncio.sleep(0.01)
    assert not deadline.expired()
    with pytest.raises(TimeoutError):
        async with make(5) as deadline:
            deadline.reschedule(loop.time())  # now: fires at the loop's next turn
            await asyncio.sleep(10)
    with pytest.raises(TimeoutError):
        async with make(None) as deadline:
            deadline.reschedule(loop.time() + 0.02)
            await asyncio.sleep(10)


@pytest.mark.parametrize("make", KINDS, ids=IDS)
async def test_reschedule_outside_the_block_is_an_error(make: Kind) -> None:
    deadline = make(5)
    with pytest.raises(RuntimeError):
        deadline.reschedule(None)
    async with deadline:
        pass
    with pytest.raises(RuntimeError):
        deadline.reschedule(None)


async def test_many_deadlines_fire_each_in_its_own_time_and_the_sweep_stops() -> None:
    loop = asyncio.get_running_loop()
    fired: dict[int, float] = {}

    async def one(i: int) -> None:
        delay = 0.01 * (i % 7) + 0.005
        start = loop.time()
        try:
            async with Deadline(start + delay):
                await asyncio.sleep(10 if i % 2 else 0.001)
        except TimeoutError:
            fired[i] = loop.time() - start - delay

    await asyncio.gather(*(one(i) for i in range(200)))
    assert sorted(fired) == [i for i in range(200) if i % 2]
    assert all(0 <= late < GRAIN_S + 0.5 for late in fired.values())
    wheel = module._Wheel.of(loop)
    assert wheel.armed == 0
    await asyncio.sleep(3 * GRAIN_S)  # the next sweep finds nothing armed and stops
    assert wheel._timer is None and not wheel.buckets and not wheel.slots


async def test_a_deadline_is_entered_once_and_inside_a_task() -> None:
    deadline = Deadline(None)
    async with deadline:
        pass
    with pytest.raises(RuntimeError):
        async with deadline:
            pass
