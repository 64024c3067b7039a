"""An approval made on one instance reaches another while that one re-syncs its pins, and the
other keeps the tools a concurrent change swapped in meanwhile (`toolwire/app.py`, `PinResync`).

`PinResync` runs when the catalog is rebuilt: `PinGuard.sync` records the definitions and
re-reads the approvals (an await on the database); when they changed it re-announces the
catalog. It used to swap back the catalog it had synced: a catalog another source's change had
swapped in during the sync was replaced by the older one, whose tools then went missing until
that source's next change (docs/design/test-parallelism.md, docs/benchmarks.md).

Instance A is a real `toolwire serve`; instance B runs in process (the app under Starlette's
TestClient) so the window can be held open at the sync's start. They share one SQLite database,
one Redis and the secret, and federate the fixture MCP server three times: `fx` (every tool
held on first sight until approved), `fy` and `fz` (unpinned; their `grow` adds a tool).
B's own approval poll is off (`pin_refresh_s` an hour): the approval reaches B through the
re-sync under test, the only path that has the race.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from starlette.testclient import TestClient

from tests.support.cluster import redis_url
from tests.upstream.mcp.support import STARTUP_TIMEOUT_S, fixture_server, wait_ready
from toolwire import app as app_module
from toolwire.app import create_app
from toolwire.core.catalog import Catalog
from toolwire.services import Services
from toolwire.settings import Settings
from toolwire.testing import start_gateway

pytestmark = pytest.mark.timeout(240)

WAIT_S = 60.0


def served(services: Services) -> set[str]:
    """What B serves: its catalog less the held operations."""
    pins = services.pins
    assert pins is not None
    return {op.qualified for op in services.gateway.catalog if not pins.held(op)}


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_an_approval_seen_by_a_resync_keeps_the_tools_swapped_in_during_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secrets.token_urlsafe(32)
    state = redis_url()
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    admin_key = f"tw_admin_{secrets.token_hex(8)}"
    grows = {"include": ["grow", "added"], "pinning": {"policy": "off"}}
    catalog: dict[str, Any] = {
        "mcp": {
            "fx": {**fixture_server(), "include": ["echo"], "pinning": {"first_sight": "hold"}},
            "fy": {**fixture_server(), **grows},
            "fz": {**fixture_server(), **grows},
        }
    }
    first = start_gateway(
        tmp_path / "a",
        config=catalog,
        env={
            "TOOLWIRE_SECRET_KEY": secret,
            "TOOLWIRE_STATE_URL": state,
            "TOOLWIRE_UPSTREAM_START_WAIT_S": "0",
        },
        admin_key=admin_key,
        args=["--database-url", database],
        startup_timeout=STARTUP_TIMEOUT_S,
    )

    finished = threading.Event()
    real_call = app_module.PinResync.__call__

    async def counted(self: app_module.PinResync) -> None:
        started_on = self.gateway.catalog
        await real_call(self)
        if armed.is_set() and started_on is held_catalog.get("c1"):
            finished.set()  # the resync that was held open has re-announced

    monkeypatch.setattr(app_module.PinResync, "__call__", counted)
    armed, in_window, release = threading.Event(), threading.Event(), threading.Event()
    held_catalog: dict[str, Catalog] = {}
    syncs_done: list[int] = []

    try:
        wait_ready(first, ["fx", "fy", "fz"])
        config = tmp_path / "b.yaml"
        config.write_text(yaml.safe_dump(catalog))
        settings = Settings(
            data_dir=tmp_path / "b",
            admin_key=admin_key,
            config=config,
            database_url=database,
            state_url=state,
            secret_key=secret,
            pin_refresh_s=3600.0,
            upstream_start_wait_s=0.0,
        )
        with TestClient(create_app(settings), base_url="http://127.0.0.1:8787") as http:
            services: Services = http.app.state.services  # type: ignore[attr-defined]
            pins = services.pins
            assert pins is not None
            _, key = first.create_account(credits=10)
            agent = {"authorization": f"Bearer {key}"}
            until(
                lambda: (
                    {"fy.grow", "fz.grow"} <= served(services)
                    and "fx.echo" in {op.qualified for op in services.gateway.catalog}
                ),
                "B never discovered its upstreams",
            )
            assert "fx.echo" not in served(services)  # held on first sight, on B
            real_sync: Callable[[Any], Awaitable[bool]] = pins.sync

            async def held_open(ops: Any) -> bool:
                # the first resync after arming: its catalog is recorded and it waits here,
                # at the start of its real await, while another change is swapped in
                if armed.is_set() and "c1" not in held_catalog:
                    held_catalog["c1"] = services.gateway.catalog
                    in_window.set()
                    await anyio.to_thread.run_sync(release.wait, WAIT_S)
                try:
                    return await real_sync(ops)
                finally:
                    syncs_done.append(1)

            monkeypatch.setattr(pins, "sync", held_open)
            armed.set()
            grown = http.post(
                "/api/v1/execute", json={"tool": "fy.grow", "input": {}}, headers=agent
            )
            assert grown.status_code == 200, grown.text
            assert in_window.wait(WAIT_S), "fy's change never reached the pin resync"

            before = len(syncs_done)
            grown = http.post(
                "/api/v1/execute", json={"tool": "fz.grow", "input": {}}, headers=agent
            )
            assert grown.status_code == 200, grown.text
            until(
                lambda: "fz.added" in served(services) and len(syncs_done) > before,
                "fz's change was never swapped in and synced",
            )
            with first.admin() as admin:  # the approval, on the other instance
                approved = admin.post("/admin/v1/upstreams/fx/approve", json={})
            assert approved.status_code == 200, approved.text
            assert approved.json()["approved"], approved.text
            release.set()
            assert finished.wait(WAIT_S), "the held resync never finished"

            now = served(services)
            listed = http.get("/api/v1/tools", headers=agent).text
        assert "fx.echo" in now  # the approval made on A, seen by B's resync
        assert {"fy.added", "fz.added"} <= now  # not the catalog synced before fz's change
        assert "fz.added" in listed or "fz__added" in listed
    finally:
        release.set()
        first.stop()
