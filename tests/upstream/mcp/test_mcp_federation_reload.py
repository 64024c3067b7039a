"""A reload follows the `mcp:` section (tests/upstream/mcp/servers/fixture.py, the official
SDK's server over stdio): an added upstream is started and served, a changed one is replaced
(a call in flight on the old process finishes there, then that process is closed), a removed
one is closed, and an unchanged one keeps its process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.upstream.mcp.support import (
    FIXTURE,
    count_processes,
    descendants,
    execute,
    fixture_server,
    gateway,
    upstreams,
    wait_ready,
)
from toolwire.testing import RunningGateway

pytestmark = pytest.mark.timeout(240)


def entry(mark: str) -> dict[str, Any]:
    return {**fixture_server(), "env": {"FIXTURE_MARK": mark}, "include": ["echo", "slow"]}


def reload_with(gw: RunningGateway, mcp: dict[str, Any]) -> dict[str, Any]:
    path = gw.data_dir / "toolwire.yaml"
    config = yaml.safe_load(path.read_text())
    config["mcp"] = mcp
    path.write_text(yaml.safe_dump(config))
    with gw.admin() as admin:
        answer = admin.post("/admin/v1/reload")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def fixture_pids(gw: RunningGateway) -> set[int]:
    return {pid for pid, cmd in descendants(gw.process.pid) if str(FIXTURE) in cmd}


def wait_until(check: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)


def test_reload_adds_replaces_and_removes_mcp_upstreams(tmp_path: Path) -> None:
    env = {"TOOLWIRE_RELOAD_POLL_S": "0"}
    with gateway(tmp_path / "gw", {"fx": entry("A:")}, env=env) as gw:
        _, key = gw.create_account(credits=10)
        with gw.client(key) as http:
            assert execute(http, "fx.echo", {"text": "hi"})["data"]["content"][0]["text"] == "A:hi"
        (fx_first,) = fixture_pids(gw)

        added = reload_with(gw, {"fx": entry("A:"), "fy": entry("Y:")})  # add one
        assert added["status"] == "reloaded", added
        wait_ready(gw, ["fx", "fy"])  # its tools join once discovered (no start wait here)
        with gw.client(key) as http:
            assert execute(http, "fy.echo", {"text": "hi"})["data"]["content"][0]["text"] == "Y:hi"
        assert fx_first in fixture_pids(gw)  # the unchanged one kept its process
        assert len(fixture_pids(gw)) == 2

        async def replace_during_a_call() -> dict[str, Any]:
            async with httpx.AsyncClient(
                base_url=gw.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as http:
                slow = asyncio.create_task(
                    http.post("/api/v1/execute", json={"tool": "fx.slow", "input": {"seconds": 8}})
                )
                async with asyncio.timeout(30):
                    while upstreams(gw)["fx"]["in_flight"] < 1:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                await asyncio.to_thread(reload_with, gw, {"fx": entry("B:"), "fy": entry("Y:")})
                await asyncio.to_thread(wait_ready, gw, ["fx", "fy"])
                echoed = await http.post(
                    "/api/v1/execute", json={"tool": "fx.echo", "input": {"text": "hi"}}
                )
                assert echoed.json()["data"]["content"][0]["text"] == "B:hi"  # the new process
                assert fx_first in fixture_pids(gw)  # the old one is still finishing a call
                done = await slow
                return dict(done.json())

        finished = asyncio.run(replace_during_a_call())
        assert finished["ok"], finished  # the call in flight finished on the old process
        wait_until(lambda: fx_first not in fixture_pids(gw))  # then it was closed
        assert len(fixture_pids(gw)) == 2

        removed = reload_with(gw, {"fx": entry("B:")})  # remove one
        assert {"fy.echo", "fy.slow"} <= set(removed["removed"]), removed
        wait_until(lambda: len(fixture_pids(gw)) == 1)
        with gw.client(key) as http:
            gone = execute(http, "fy.echo", {"text": "hi"})
            kept = execute(http, "fx.echo", {"text": "hi"})
        assert gone["error"]["code"] == "TOOL_NOT_FOUND"
        assert kept["data"]["content"][0]["text"] == "B:hi"
        assert "fy" not in upstreams(gw)
        assert count_processes(gw, str(FIXTURE)) == 1
