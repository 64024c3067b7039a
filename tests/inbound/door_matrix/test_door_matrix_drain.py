"""A call cut at the drain deadline, through every door: the gateway gets SIGTERM while each
door's call (`matrix.wait`, 30 s) is running; at `TOOLWIRE_DRAIN_TIMEOUT_S` the core stops them
(`Gateway.stop_calls`) and each door answers the core's UNAVAILABLE in its own form (REST 503 +
`Retry-After`, MCP's JSON-RPC error, A2A's failed task), not uvicorn's plain 500. Credits are
released, and the ledger and the audit log agree: one reserve and one release per call, one
UNAVAILABLE event charged nothing.

`stdio-local` has no cell: `toolwire stdio --local` runs its own core in the client's process,
which an HTTP instance's drain does not reach.
"""

from __future__ import annotations

import signal
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal

from tests.inbound.door_matrix.books import (
    audit_outcomes,
    entries,
    open_reservations,
    wait_for,
)
from tests.inbound.door_matrix.conftest import CONFIG, REPO
from tests.inbound.door_matrix.door import Answer, Door, Key, World
from tests.inbound.door_matrix.registry import DOORS
from toolwire.testing import start_gateway

DRAIN_TIMEOUT_S = 2
RUNS_S = 30.0
"""How long each door's call would run: far beyond the drain timeout."""
CUT = "UNAVAILABLE"
LOCAL = "stdio-local"


@dataclass
class Drained:
    door: Door
    key: Key
    answer: Answer
    data_dir: Path
    answered_after_s: float
    """From SIGTERM to this door's answer."""


@pytest.fixture(scope="module")
def drained(
    tmp_path_factory: pytest.TempPathFactory, portal: BlockingPortal
) -> Iterator[dict[str, Drained]]:
    """Each door's answer to one call running when the gateway drained (made once)."""
    env = {"PYTHONPATH": str(REPO), "TOOLWIRE_DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gateway = start_gateway(tmp_path_factory.mktemp("drain"), config=CONFIG, env=env)
    world = World(gateway, portal, env)
    names = [name for name in DOORS if name != LOCAL]
    doors: dict[str, Door] = {name: DOORS[name](world) for name in names}
    data_dir = gateway.data_dir
    try:
        keys = {name: world.new_key(10, ["*"], f"{name}-drain") for name in names}
        answered: dict[str, float] = {}

        def call(name: str) -> Answer:
            answer = doors[name].call(keys[name], "matrix.wait", {"seconds": RUNS_S})
            answered[name] = time.monotonic()
            return answer

        with ThreadPoolExecutor(len(doors)) as pool:
            calls = {name: pool.submit(call, name) for name in names}
            wait_for(
                lambda: all(open_reservations(data_dir, k.account_id) == 1 for k in keys.values()),
                "every door's call is running (its credits reserved)",
                within=60,
            )
            cut = time.monotonic()
            gateway.process.send_signal(signal.SIGTERM)
            answers = {name: future.result(timeout=60) for name, future in calls.items()}
        assert gateway.process.wait(timeout=30) == -signal.SIGTERM
        yield {
            name: Drained(doors[name], keys[name], answers[name], data_dir, answered[name] - cut)
            for name in names
        }
    finally:
        for door in doors.values():
            door.close()
        world.close()
        gateway.stop()


@pytest.fixture
def cut(door_name: str, drained: dict[str, Drained]) -> Drained:
    if door_name == LOCAL:
        pytest.skip("stdio --local runs its own core: an HTTP instance's drain does not reach it")
    return drained[door_name]


def test_a_call_cut_at_the_drain_deadline_is_answered_unavailable_in_the_doors_form(
    cut: Drained,
) -> None:
    answer = cut.answer
    assert (answer.ok, answer.code) == (False, CUT), answer.raw
    expected = cut.door.expected_error(CUT)
    assert answer.wire.matches(expected), (answer.wire, expected)
    assert DRAIN_TIMEOUT_S <= cut.answered_after_s < RUNS_S / 2


def test_a_call_cut_at_the_drain_deadline_is_released_and_audited_as_such(cut: Drained) -> None:
    account_id = cut.key.account_id
    wait_for(lambda: audit_outcomes(cut.data_dir, account_id) != [], "the call is audited")
    assert audit_outcomes(cut.data_dir, account_id) == [(CUT, 0)]
    assert open_reservations(cut.data_dir, account_id) == 0
    kinds = ("reserve", "charge", "release")
    assert [entries(cut.data_dir, account_id, kind) for kind in kinds] == [1, 0, 1]
