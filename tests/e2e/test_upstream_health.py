"""Upstream health end to end: a real local HTTP upstream that fails or hangs, behind a real
`toolwire serve`. The breaker opens and fails that upstream's tools fast with UPSTREAM_ERROR and
a reason, the concurrency cap refuses calls over it, every other tool is unaffected, and the
state shows in `/readyz`, the admin API and `toolwire upstreams list`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.books import eventually
from tests.upstream.servers import Served, serving
from toolwire.testing import TOOLWIRE, RunningGateway, running_gateway


class Upstream:
    """Counts hits per path; `/fail` answers 500, `/hang` waits until `release` is set."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.release = threading.Event()

    def app(self) -> Starlette:
        async def fail(request: Request) -> JSONResponse:
            self.hits["fail"] = self.hits.get("fail", 0) + 1
            return JSONResponse({"error": "down"}, 500)

        async def hang(request: Request) -> JSONResponse:
            self.hits["hang"] = self.hits.get("hang", 0) + 1
            await asyncio.to_thread(self.release.wait, 30)
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/fail", fail), Route("/hang", hang)])


def operation(upstream: str, path: str) -> dict[str, Any]:
    return {
        "upstream": upstream,
        "path": path,
        "description": f"GET {path}",
        "input_schema": {"type": "object"},
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Upstream]]:
    upstream = Upstream()
    with serving(upstream.app()) as served:
        config = config_for(served)
        data = tmp_path_factory.mktemp("health")
        try:
            with running_gateway(data, config=config) as gateway:
                yield gateway, upstream
        finally:
            upstream.release.set()


def config_for(served: Served) -> dict[str, Any]:
    common = {"base_url": served.url, "allow_private_networks": True}
    return {
        "builtins": {"include": ["echo"]},
        "upstreams": {
            "flaky": {**common, "health": {"failure_threshold": 2, "reset_after": 300}},
            "slow": {**common, "timeout": 30, "health": {"max_concurrency": 2}},
        },
        "tools": {
            "flaky": {"description": "fails", "operations": {"fail": operation("flaky", "/fail")}},
            "slow": {"description": "hangs", "operations": {"hang": operation("slow", "/hang")}},
        },
    }


def run(http: httpx.Client, tool: str, payload: dict[str, Any] | None = None) -> httpx.Response:
    return http.post("/api/v1/execute", json={"tool": tool, "input": payload or {}})


def test_a_failing_upstream_opens_its_breaker_and_fails_fast(
    world: tuple[RunningGateway, Upstream],
) -> None:
    gateway, upstream = world
    _, key = gateway.create_account()
    with gateway.client(key) as http:
        for _ in range(2):
            failed = run(http, "flaky.fail")
            assert failed.json()["error"]["code"] == "UPSTREAM_ERROR"
            assert failed.json()["error"]["details"]["reason"] == "http_status"
        assert upstream.hits["fail"] == 2
        fast = run(http, "flaky.fail")
        error = fast.json()["error"]
        assert (error["code"], error["details"]["reason"]) == ("UPSTREAM_ERROR", "circuit_open")
        assert "flaky" in error["message"] and error["details"]["upstream"] == "flaky"
        assert upstream.hits["fail"] == 2  # refused without reaching the upstream
        assert run(http, "echo", {"message": "still here"}).status_code == 200
    ready = httpx.get(gateway.url + "/readyz").json()
    assert ready["upstreams"]["flaky"]["state"] == "open"
    assert ready["upstreams"]["slow"]["state"] == "closed"
    assert "http_status 500" in ready["upstreams"]["flaky"]["last_error"]

    env = {**os.environ, "TOOLWIRE_ADMIN_KEY": gateway.admin_key, "COLUMNS": "200"}
    shown = subprocess.run(
        [TOOLWIRE, "upstreams", "list", "--url", gateway.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    ).stdout
    (row,) = [line for line in shown.splitlines() if "flaky" in line]
    assert "open" in row and "http" in row


async def test_the_concurrency_cap_refuses_calls_over_it_and_spares_other_tools(
    world: tuple[RunningGateway, Upstream],
) -> None:
    gateway, upstream = world
    _, key = gateway.create_account()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=60) as http:
        body = {"tool": "slow.hang", "input": {}}
        hung = [asyncio.create_task(http.post("/api/v1/execute", json=body)) for _ in range(2)]

        async def both_in_flight() -> bool:
            return upstream.hits.get("hang", 0) == 2

        await eventually(both_in_flight)
        over = (await http.post("/api/v1/execute", json=body)).json()["error"]
        assert (over["code"], over["details"]["reason"]) == ("UPSTREAM_ERROR", "upstream_busy")
        echo = await http.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "x"}})
        assert echo.status_code == 200
        admin = {"Authorization": f"Bearer {gateway.admin_key}"}
        rows = (await http.get("/admin/v1/upstreams", headers=admin)).json()["upstreams"]
        slow = next(r for r in rows if r["name"] == "slow")
        assert (slow["state"], slow["in_flight"], slow["tools"]) == ("closed", 2, 1)
        upstream.release.set()
        assert [(await t).status_code for t in hung] == [200, 200]
    assert upstream.hits["hang"] == 2
