"""Two gateways over one database and one Redis share their upstreams' circuit breakers: when
calls through one open the breaker of a failing upstream, the other refuses that upstream's
tools at once (UPSTREAM_ERROR, reason `circuit_open`) without sending a single request to it,
and shows it open in `/readyz`. The mechanism is tested in process in tests/state/test_breakers.py
(probe election, late start, malformed messages)."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_upstream_health import Upstream, operation
from tests.support.books import eventually
from tests.support.cluster import gateway_pair
from tests.upstream.servers import serving
from toolwire.testing import RunningGateway


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningGateway, Upstream, str]]:
    upstream = Upstream()
    name = f"flaky{secrets.token_hex(3)}"  # Redis outlives a run: a fresh breaker each time
    tmp = tmp_path_factory.mktemp("health-shared")
    with serving(upstream.app()) as served:
        config = {
            "upstreams": {
                name: {
                    "base_url": served.url,
                    "allow_private_networks": True,
                    "health": {"failure_threshold": 2, "reset_after": 300},
                }
            },
            "tools": {
                name: {"description": "fails", "operations": {"fail": operation(name, "/fail")}}
            },
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            with gateway_pair(tmp, config) as (a, b):
                yield a, b, upstream, name


async def test_a_breaker_opened_through_one_gateway_is_open_on_the_other(
    world: tuple[RunningGateway, RunningGateway, Upstream, str],
) -> None:
    a, b, upstream, name = world
    _, key = a.create_account()
    with a.client(key) as via_a:
        for _ in range(2):
            failed = via_a.post("/api/v1/execute", json={"tool": f"{name}.fail", "input": {}})
            assert failed.json()["error"]["details"]["reason"] == "http_status"
    assert upstream.hits["fail"] == 2

    async def open_on_b() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            ready = (await http.get(b.url + "/readyz")).json()
        return bool(ready["upstreams"][name]["state"] == "open")

    await eventually(open_on_b, within=5)
    with b.client(key) as via_b:
        fast = via_b.post("/api/v1/execute", json={"tool": f"{name}.fail", "input": {}})
    error = fast.json()["error"]
    assert (error["code"], error["details"]["reason"]) == ("UPSTREAM_ERROR", "circuit_open")
    assert upstream.hits["fail"] == 2  # b refused without reaching the upstream
