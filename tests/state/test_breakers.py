"""`state.breakers.BreakerBoard`: two instances' breakers agree through one state backend (the
in-process one here, Redis in tests/e2e/test_upstream_health_shared.py): an opening on one opens
the other, one instance wins the half-open probe and its outcome closes or reopens both, an
instance starting late reads an open breaker, and what is not a breaker message is ignored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.upstream.test_health import Clock, fail, refused, state
from toolwire.state.breakers import CHANNEL, BreakerBoard
from toolwire.state.memory import MemoryState
from toolwire.upstream.health import HealthPolicy, HealthRegistry, UpstreamHealth

POLICY = HealthPolicy(failure_threshold=2, reset_after=10.0, max_concurrency=8)


@dataclass
class Instance:
    registry: HealthRegistry
    board: BreakerBoard
    clock: Clock

    @property
    def up(self) -> UpstreamHealth:
        return self.registry.for_upstream("up", "http", POLICY)


async def instance(shared: MemoryState, name: str) -> Instance:
    clock = Clock()
    registry = HealthRegistry(clock=clock)
    registry.for_upstream("up", "http", POLICY)
    board = BreakerBoard(shared, name, registry.apply, registry.names)
    registry.share_with(board)
    await board.start()
    return Instance(registry, board, clock)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Instance, Instance]]:
    shared = MemoryState()
    a, b = await instance(shared, "a"), await instance(shared, "b")
    yield a, b
    await a.board.stop()
    await b.board.stop()
    await shared.close()


async def until(check: object) -> None:
    """Until `check()` holds: the board's messages go out from a task (bounded)."""
    for _ in range(400):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


async def opened_by(a: Instance, b: Instance, *, reset: bool = False) -> None:
    """Two failures through `a` open its breaker; wait until `b` follows. With `reset`, both
    clocks then move past the episode's `reset_after` (both half-open)."""
    await fail(a.up)
    await fail(a.up)
    assert state(a.up) == "open"
    await until(lambda: state(b.up) == "open")
    if reset:
        a.clock.now += POLICY.reset_after
        b.clock.now += POLICY.reset_after


async def test_a_breaker_opened_on_one_instance_opens_the_other(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    await opened_by(a, b)
    assert await refused(b.up) == "circuit_open"  # b never failed a call of its own
    assert b.up.snapshot()["last_error"] == "upstream_timeout"
    assert b.up.snapshot()["consecutive_failures"] == 0


async def test_one_instance_wins_the_probe_and_its_success_closes_both(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    await opened_by(a, b, reset=True)
    assert state(a.up) == state(b.up) == "half_open"
    async with a.up.guard():  # a's probe is out...
        assert await refused(b.up) == "circuit_open"  # ...so b does not send its own
        assert state(b.up) == "open"
    assert state(a.up) == "closed"
    await until(lambda: state(b.up) == "closed")


async def test_a_failed_probe_reopens_both_for_a_new_episode(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    await opened_by(a, b, reset=True)
    first = b.up._opened_wall
    await fail(b.up)  # b wins this episode's probe, and it fails
    assert state(b.up) == "open"
    await until(lambda: a.up._opened_wall > first)
    assert state(a.up) == "open"


async def test_an_instance_that_starts_while_a_breaker_is_open_reads_it() -> None:
    shared = MemoryState()
    a = await instance(shared, "a")
    await fail(a.up)
    await fail(a.up)
    await until(lambda: len(shared) > 0)  # the record is written
    late = await instance(shared, "late")
    try:
        assert state(late.up) == "open"
    finally:
        await a.board.stop()
        await late.board.stop()
        await shared.close()


@pytest.mark.parametrize(
    "garbage",
    [b"not json", b"[]", b'{"origin": "x"}',
     b'{"origin": "x", "upstream": "up", "opened_at": true}',
     b'{"origin": "x", "upstream": "up", "opened_at": "1"}',
     b'{"origin": "x", "upstream": "up", "opened_at": 1.0, "reason": 5}'],
)  # fmt: skip
async def test_what_is_not_a_breaker_message_is_ignored_and_listening_goes_on(
    pair: tuple[Instance, Instance], garbage: bytes
) -> None:
    a, b = pair
    await a.board.state.publish(CHANNEL, garbage)
    await opened_by(a, b)


async def test_a_share_that_cannot_be_reached_leaves_each_breaker_on_its_own() -> None:
    class Down(MemoryState):
        async def set_add(self, key: str, member: bytes, ttl_s: float, max_members: int) -> int:
            raise ConnectionError("no route to Redis")

    shared = Down()
    a = await instance(shared, "a")
    try:
        await fail(a.up)
        await fail(a.up)
        a.clock.now += 10
        async with a.up.guard():  # the election failed: a probes on its own
            pass
        assert state(a.up) == "closed"
    finally:
        await a.board.stop()
        await shared.close()


async def test_a_reason_that_is_not_a_reason_code_is_not_shown(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    text = b'{"origin": "x", "upstream": "up", "opened_at": %f, "reason": "<img src=x> 500"}'
    await a.board.state.publish(CHANNEL, text % time.time())
    await until(lambda: state(b.up) == "open")
    assert b.up.snapshot()["last_error"] is None
