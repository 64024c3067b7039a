"""The database goes away after the key was cached: a PostgreSQL-backed gateway has served each
door one priced call (the key is now trusted from the cache, `TOOLWIRE_KEY_CACHE_SECONDS`), then
its database stops accepting connections and its open ones are terminated. The next priced call
passes authentication and fails at the reservation, inside the call path: every door answers the
core's `UNAVAILABLE` in the form its own table gives a call (`stage="call"`), never a 500, and
promptly (the store's boundary, toolwire/store/boundary.py; docs/design/durable-audit.md).

SQLite is not a row here: a gateway keeps its SQLite file open, and an open file outlives its
directory's removal and a chmod, so its database cannot be taken away under it from outside;
tests/store/test_boundary.py covers SQLite's "unable to open" at the boundary.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from anyio.from_thread import BlockingPortal

from tests.inbound.door_matrix.conftest import CONFIG, REPO
from tests.inbound.door_matrix.door import Answer, Door, Key, World
from tests.inbound.door_matrix.registry import DOORS
from tests.inbound.door_matrix.store_down import fresh_database, maintenance_dsn, unreachable
from toolwire.testing import start_gateway

DB_DOWN = "UNAVAILABLE"
PROMPT_S = 20.0
"""Every door answers within this (a connect to a database that refuses is quick; the
statement and connect timeouts bound the rest)."""

Answers = dict[str, tuple[Door, Answer, Answer, float]]


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory, portal: BlockingPortal) -> Iterator[Answers]:
    """Door name -> (door, its answer with the database up, its answer once it went away,
    seconds that took)."""
    dsn = maintenance_dsn(portal)
    with fresh_database(portal, dsn) as url:
        env = {
            "PYTHONPATH": str(REPO),
            "TOOLWIRE_DATABASE_URL": url,
            "TOOLWIRE_KEY_CACHE_SECONDS": "600",
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gateway = start_gateway(tmp_path_factory.mktemp("db-down"), config=CONFIG, env=env)
        world = World(gateway, portal, env)
        doors: dict[str, Door] = {name: factory(world) for name, factory in DOORS.items()}
        try:
            keys: dict[str, Key] = {name: world.new_key(10, ["*"], f"{name}-db") for name in DOORS}

            def call(name: str) -> tuple[Answer, float]:
                started = time.monotonic()
                answer = doors[name].call(keys[name], "matrix.add", {"a": 1, "b": 2})
                return answer, time.monotonic() - started

            with ThreadPoolExecutor(len(DOORS)) as pool:
                up = dict(zip(DOORS, pool.map(call, DOORS), strict=True))  # caches every key
                with unreachable(portal, dsn, url):
                    down = dict(zip(DOORS, pool.map(call, DOORS), strict=True))
            yield {name: (doors[name], up[name][0], down[name][0], down[name][1]) for name in DOORS}
        finally:
            for door in doors.values():
                door.close()
            world.close()
            gateway.kill()  # its shutdown would retry writes to a database about to be dropped


def test_with_the_database_up_the_priced_call_succeeds(door_name: str, answers: Answers) -> None:
    _, up, _, _ = answers[door_name]
    assert up.ok, up.raw


def test_a_database_gone_after_the_key_was_cached_is_unavailable_in_the_doors_own_form(
    door_name: str, answers: Answers
) -> None:
    door, _, down, _ = answers[door_name]
    assert down.ok is False, down.raw
    assert down.code == DB_DOWN, down.raw
    expected = door.expected_error(DB_DOWN, stage="call")
    assert down.wire.matches(expected), (down.wire, expected)


def test_a_database_gone_is_answered_promptly(door_name: str, answers: Answers) -> None:
    _, _, _, took = answers[door_name]
    assert took < PROMPT_S
