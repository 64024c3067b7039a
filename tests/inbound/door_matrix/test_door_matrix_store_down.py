"""An auth-store failure through every door: a key the gateway has never seen, presented while
its database is unreachable. The target is one answer everywhere: the core's "unavailable" code
(`STORE_DOWN`), in the form each door's own table gives it, never a bad-key 401 or a crash 500.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from anyio.from_thread import BlockingPortal

from tests.inbound.door_matrix.conftest import CONFIG, REPO
from tests.inbound.door_matrix.door import Answer, Door, Key, World
from tests.inbound.door_matrix.registry import DOORS
from tests.inbound.door_matrix.store_down import (
    fresh_database,
    maintenance_dsn,
    unreachable,
)
from toolwire.testing import start_gateway

STORE_DOWN = "UNAVAILABLE"
"""The code an unreachable store is answered with (a 503-style refusal, retry later). No door's
table has a row for it yet: the kernel of issue 10 adds it."""


@pytest.fixture(scope="module")
def down_answers(
    tmp_path_factory: pytest.TempPathFactory, portal: BlockingPortal
) -> Iterator[dict[str, tuple[Door, Answer]]]:
    """Each door's answer to one call made while the store is down (made once, read by every
    test here), with the doors that made them."""
    dsn = maintenance_dsn(portal)
    with fresh_database(portal, dsn) as url:
        env = {"PYTHONPATH": str(REPO), "TOOLWIRE_DATABASE_URL": url}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gateway = start_gateway(tmp_path_factory.mktemp("store-down"), config=CONFIG, env=env)
        world = World(gateway, portal, env)
        doors: dict[str, Door] = {name: factory(world) for name, factory in DOORS.items()}
        try:
            keys: dict[str, Key] = {n: world.new_key(10, ["*"], f"{n}-down") for n in DOORS}
            with unreachable(portal, dsn, url), ThreadPoolExecutor(len(doors)) as pool:
                # All doors at once: most of the cost is starting stdio processes.
                answers = list(
                    pool.map(
                        lambda name: doors[name].call(keys[name], "matrix.add", {"a": 1, "b": 2}),
                        doors,
                    )
                )
            yield {name: (doors[name], a) for name, a in zip(doors, answers, strict=True)}
        finally:
            for door in doors.values():
                door.close()
            world.close()
            gateway.kill()  # its shutdown would retry writes to a database about to be dropped


@pytest.fixture
def answered(door_name: str, down_answers: dict[str, tuple[Door, Answer]]) -> tuple[Door, Answer]:
    return down_answers[door_name]


def test_an_auth_store_failure_refuses_the_call(answered: tuple[Door, Answer]) -> None:
    _, answer = answered
    assert answer.ok is False, answer.raw


def test_an_auth_store_failure_gets_the_same_unavailable_answer_at_every_door(
    answered: tuple[Door, Answer],
) -> None:
    door, answer = answered
    assert answer.code == STORE_DOWN, answer.raw
    expected = door.expected_error(STORE_DOWN, stage="admission")
    assert answer.wire.matches(expected), (answer.wire, expected)
