"""The database goes away after the key was cached: a gateway has served each door one priced
call (the key is now trusted from the cache, `TOOLWIRE_KEY_CACHE_SECONDS`), then its database
stops answering. The next priced call passes authentication and fails at the reservation, inside
the call path: every door answers the core's `UNAVAILABLE` in the form its own table gives a call
(`stage="call"`), never a 500, and promptly (the store's boundary, toolwire/store/boundary.py;
docs/design/durable-audit.md). Two rows, the same answers:

- PostgreSQL: the database stops accepting connections and its open ones are terminated;
- SQLite: another process holds the database file's write lock (as a backup or a `sqlite3`
  shell in a write transaction would), so every write fails with SQLITE_BUSY once
  `TOOLWIRE_DB_BUSY_TIMEOUT_S` (1 s here) has passed. Removing the directory or a chmod would
  not do: a gateway keeps its SQLite file open, and an open file outlives both (writes go on to
  the unlinked file), so a lock is how a SQLite database is taken away under a running gateway.
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal

from tests.inbound.door_matrix.conftest import CONFIG, REPO
from tests.inbound.door_matrix.door import Answer, Door, Key, World
from tests.inbound.door_matrix.registry import DOORS
from tests.inbound.door_matrix.store_down import fresh_database, maintenance_dsn, unreachable
from toolwire.testing import RunningGateway, start_gateway

DB_DOWN = "UNAVAILABLE"
PROMPT_S = 20.0
"""Every door answers within this (a connect to a database that refuses is quick; the
statement and connect timeouts bound the rest)."""

Answers = dict[str, tuple[Door, Answer, Answer, float]]


CACHED = {"PYTHONPATH": str(REPO), "TOOLWIRE_KEY_CACHE_SECONDS": "600"}


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def answers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    portal: BlockingPortal,
) -> Iterator[Answers]:
    """Door name -> (door, its answer with the database up, its answer once it went away,
    seconds that took), for the backend of the row."""
    data_dir = tmp_path_factory.mktemp(f"db-down-{request.param}")
    if request.param == "sqlite":
        env = {**CACHED, "TOOLWIRE_DB_BUSY_TIMEOUT_S": "1"}
        gateway = _start(data_dir, env)
        yield from _answers(World(gateway, portal, env), locked(gateway.data_dir / "toolwire.db"))
        return
    dsn = maintenance_dsn(portal)
    with fresh_database(portal, dsn) as url:
        env = {**CACHED, "TOOLWIRE_DATABASE_URL": url}
        gateway = _start(data_dir, env)
        yield from _answers(World(gateway, portal, env), unreachable(portal, dsn, url))


def _start(data_dir: Path, env: dict[str, str]) -> RunningGateway:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        return start_gateway(data_dir, config=CONFIG, env=env)


def _answers(world: World, down: AbstractContextManager[None]) -> Iterator[Answers]:
    """One priced call per door with the database up (caching every key), then one inside
    `down`."""
    doors: dict[str, Door] = {name: factory(world) for name, factory in DOORS.items()}
    try:
        keys: dict[str, Key] = {name: world.new_key(10, ["*"], f"{name}-db") for name in DOORS}

        def call(name: str) -> tuple[Answer, float]:
            started = time.monotonic()
            answer = doors[name].call(keys[name], "matrix.add", {"a": 1, "b": 2})
            return answer, time.monotonic() - started

        with ThreadPoolExecutor(len(DOORS)) as pool:
            up = dict(zip(DOORS, pool.map(call, DOORS), strict=True))  # caches every key
            with down:
                gone = dict(zip(DOORS, pool.map(call, DOORS), strict=True))
        yield {name: (doors[name], up[name][0], gone[name][0], gone[name][1]) for name in DOORS}
    finally:
        for door in doors.values():
            door.close()
        world.close()
        world.gateway.kill()  # its shutdown would retry writes to a database that is gone


@contextmanager
def locked(database: Path) -> Iterator[None]:
    """While inside: another connection (this process's) holds the SQLite file's write lock."""
    holder = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
    finally:
        holder.close()


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
