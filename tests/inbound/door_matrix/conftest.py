"""One real gateway (`toolwire serve` on 127.0.0.1) shared by every cell of the door matrix, the
portal its doors' async clients run in, and the `door` fixture: a test that asks for it runs once
per row of `registry.DOORS`, with the strict xfails `registry.DRIFTS` declares.

Each door gets its own two accounts (so one door's cells never see another's money): `rich`
(scopes `*`, credits to spare) and `limited` (scopes `matrix.*` and `echo`, limited to the
virtual server `matrix` (`matrix.*` only, so `echo` is outside it), and less than the price of
`matrix.add`). Two keys, not three, because a stdio door starts one process per key.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from tests.inbound.door_matrix.door import Door, Key, World
from tests.inbound.door_matrix.registry import DOORS, drift
from toolwire.testing import start_gateway

REPO = Path(__file__).resolve().parents[3]
PRICES = {"matrix.add": 0.5, "matrix.wait": 1, "matrix.stall": 2}
THROTTLED = "limited.throttled"
FETCH = "limited.fetch"
ALLOWED_DOMAIN = "example.com"
CONFIG = {
    "builtins": {"modules": ["tests.support.door_tools", "tests.support.limit_tools"]},
    "prices": PRICES,
    "limits": {"tools": {THROTTLED: {"per_key": "1/hour"}}},
    "policy": {FETCH: {"arguments": {"url": {"domains": [ALLOWED_DOMAIN]}}}},
    "servers": {"matrix": {"tools": ["matrix.*"]}},
}
LIMITED_SCOPES = ["matrix.*", "echo"]
LIMITED_SERVERS = ["matrix"]


@dataclass(frozen=True)
class Keys:
    rich: Key
    limited: Key


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `door_name` over every row, marking the cells `registry.drift` names."""
    if "door_name" not in metafunc.fixturenames:
        return
    behaviour = metafunc.definition.originalname
    params = []
    for name in DOORS:
        reason = drift(behaviour, name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize("door_name", params)


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal("asyncio") as running:
        yield running


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, portal: BlockingPortal) -> Iterator[World]:
    env = {"PYTHONPATH": str(REPO)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gateway = start_gateway(tmp_path_factory.mktemp("door-matrix"), config=CONFIG, env=env)
    world = World(gateway, portal, env)
    try:
        yield world
    finally:
        world.close()
        gateway.stop()


@pytest.fixture(scope="session")
def opened_doors(world: World) -> Iterator[dict[str, Door]]:
    """Doors by name, each built on first use and closed at the end of the run."""
    doors: dict[str, Door] = {}
    try:
        yield doors
    finally:
        for door in doors.values():
            door.close()


@pytest.fixture(scope="session")
def door_keys(world: World) -> dict[str, Keys]:
    return {}


@pytest.fixture
def door(door_name: str, opened_doors: dict[str, Door], world: World) -> Door:
    if door_name not in opened_doors:
        opened_doors[door_name] = DOORS[door_name](world)
    return opened_doors[door_name]


@pytest.fixture
def keys(door_name: str, door_keys: dict[str, Keys], world: World) -> Keys:
    if door_name not in door_keys:
        door_keys[door_name] = Keys(
            rich=world.new_key(100, ["*"], f"{door_name}-rich"),
            limited=world.new_key(
                PRICES["matrix.add"] / 5, LIMITED_SCOPES, f"{door_name}-limited", LIMITED_SERVERS
            ),
        )
    return door_keys[door_name]
