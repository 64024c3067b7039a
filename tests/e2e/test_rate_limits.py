"""Rate limits of every kind, in memory (one gateway) and in Redis shared by two gateway processes
(calls alternate between them, so a limit holds only if they share one count).

The Redis is a private `redis-server` on a free port (the shared one is never flushed or stopped):
the `all_keys` and `upstream` counters are named after the tool and the upstream, which would
carry over between runs in a shared Redis. The database is one SQLite file both gateways use.

Catalog (docs/limits-and-policy.md):

    echo      2 calls per key an hour              limits.tools.echo.per_key
    any tool  3 calls per key an hour              limits.per_key
    account   5 calls an hour (the default plan)   limits.plans.default.per_account
    calc      4 calls an hour, all keys together   limits.tools.calc.all_keys
    shop      3 calls an hour, all keys together   limits.upstreams.shop (a SQLite database)
    limited.throttled  1 call per key an hour       (the MCP re-initialise test)
"""

from __future__ import annotations

import concurrent.futures
import secrets
import sqlite3
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from tests.support.redis_server import PrivateRedis
from toolwire.testing import RunningGateway, start_gateway

REPO = Path(__file__).resolve().parents[2]


def catalog(db: Path) -> dict[str, Any]:
    return {
        "builtins": {"modules": ["tests.support.door_tools", "tests.support.limit_tools"]},
        "databases": {"shop": {"url": f"sqlite:///{db}", "tables": {"items": "*"}}},
        "limits": {
            "per_key": "3/hour",
            "tools": {
                "echo": {"per_key": "2/hour"},
                "calc": {"all_keys": "4/hour"},
                "limited.throttled": {"per_key": "1/hour"},
            },
            "upstreams": {"shop": "3/hour"},
            "plans": {"default": {"per_account": "5/hour"}},
        },
    }


@dataclass
class Pair:
    """Two gateways sharing one count (or one gateway twice, in memory)."""

    a: RunningGateway
    b: RunningGateway
    redis: PrivateRedis | None

    def call(self, n: int, key: str, tool: str, args: dict[str, Any]) -> httpx.Response:
        """Call `tool` through gateway a (even n) or b (odd n)."""
        gateway = self.a if n % 2 == 0 else self.b
        with gateway.client(key) as http:
            return http.post("/api/v1/execute", json={"tool": tool, "input": args})

    def key(self, credits: float = 10) -> tuple[str, str]:
        return self.a.create_account(credits=credits, name="limits")


@pytest.fixture(scope="module", params=["memory", "redis"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp(f"limits-{request.param}")
    db = root / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO items VALUES (1, 'one')")
    config = catalog(db)
    env = {"PYTHONPATH": str(REPO), "TOOLWIRE_SECRET_KEY": secrets.token_urlsafe(32)}
    admin = f"tw_admin_{secrets.token_hex(8)}"
    args = ["--database-url", f"sqlite:///{root / 'shared.db'}"]
    redis = None
    if request.param == "redis":
        redis = PrivateRedis(root)
        redis.start()
        env["TOOLWIRE_STATE_URL"] = redis.url
    started: list[RunningGateway] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            for name in ("a", "b") if redis is not None else ("a",):
                started.append(
                    start_gateway(root / name, config=config, env=env, admin_key=admin, args=args)
                )
        yield Pair(started[0], started[-1], redis)
    finally:
        for gateway in started:
            gateway.stop()
        if redis is not None:
            redis.stop()


def refusal(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 429, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert reply.headers["retry-after"] == str(error["details"]["retry_after_s"])
    return error


def test_a_key_x_tool_limit_counts_one_tool_for_one_key(pair: Pair) -> None:
    _, key = pair.key()
    _, other = pair.key()
    assert [pair.call(n, key, "echo", {"message": "hi"}).status_code for n in range(2)] == [200] * 2
    error = refusal(pair.call(2, key, "echo", {"message": "hi"}))
    assert error["details"]["rule"] == "limits.tools.echo.per_key"
    assert 3500 <= error["details"]["retry_after_s"] <= 3600
    assert pair.call(3, key, "uuid", {}).status_code == 200  # another tool, same key
    assert pair.call(4, other, "echo", {"message": "hi"}).status_code == 200  # another key


def test_a_key_limit_counts_every_tool_and_the_plan_limit_every_key_of_the_account(
    pair: Pair,
) -> None:
    account, first = pair.key()
    with pair.a.admin() as admin:
        reply = admin.post(f"/admin/v1/accounts/{account}/keys", json={"name": "second"})
        reply.raise_for_status()
        second = reply.json()["secret"]
    calls = [("uuid", {}), ("matrix.add", {"a": 1, "b": 2}), ("uuid", {})]
    assert [pair.call(n, first, *call).status_code for n, call in enumerate(calls)] == [200] * 3
    error = refusal(pair.call(3, first, "matrix.add", {"a": 1, "b": 2}))
    assert error["details"]["rule"] == "limits.per_key"
    assert [pair.call(n, second, "uuid", {}).status_code for n in range(2)] == [200] * 2
    error = refusal(pair.call(2, second, "uuid", {}))  # the account's 6th call
    assert error["details"]["rule"] == "limits.plans.default.per_account"


def refusals_scraped(gateway: RunningGateway) -> dict[str, float]:
    """`toolwire_rate_limit_refusals_total` by limit kind, as Prometheus parses `/metrics`."""
    with gateway.admin() as http:
        reply = http.get("/metrics")
    assert reply.status_code == 200, reply.text
    return {
        sample.labels["limit"]: sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
        if sample.name == "toolwire_rate_limit_refusals_total"
    }


def test_refusals_are_counted_in_metrics_by_the_kind_of_limit(pair: Pair) -> None:
    _, key = pair.key()
    before = refusals_scraped(pair.a).get("key_tool", 0.0)
    for n in range(2):
        assert pair.call(2 * n, key, "echo", {"message": "hi"}).status_code == 200
    refusal(pair.call(4, key, "echo", {"message": "hi"}))  # through gateway a
    assert refusals_scraped(pair.a).get("key_tool", 0.0) == before + 1


def test_an_all_keys_limit_counts_one_tool_for_every_key(pair: Pair) -> None:
    keys = [pair.key()[1] for _ in range(3)]
    calls = [(keys[0], 0), (keys[1], 1), (keys[0], 2), (keys[1], 3)]
    for key, n in calls:
        assert pair.call(n, key, "calc", {"expression": "1+1"}).status_code == 200
    error = refusal(pair.call(4, keys[2], "calc", {"expression": "1+1"}))
    assert error["details"]["rule"] == "limits.tools.calc.all_keys"


def test_an_upstream_limit_counts_every_tool_reaching_it_for_every_key(pair: Pair) -> None:
    keys = [pair.key()[1] for _ in range(4)]
    query = {"sql": "SELECT name FROM items"}
    assert pair.call(0, keys[0], "shop.describe", {}).status_code == 200
    assert pair.call(1, keys[1], "shop.query", query).status_code == 200
    assert pair.call(2, keys[2], "shop.describe", {}).status_code == 200
    error = refusal(pair.call(3, keys[3], "shop.query", query))
    assert error["details"]["rule"] == "limits.upstreams.shop"


async def _call_throttled(url: str, key: str) -> Any:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    transport = streamable_http_client(url + "/mcp", http_client=http)
    async with http, Client(transport, mode="legacy") as client:
        return await client.call_tool("limited.throttled", {})


async def test_a_new_mcp_session_does_not_reset_a_limit(pair: Pair) -> None:
    _, key = pair.key()
    with anyio.fail_after(30):
        first = await _call_throttled(pair.a.url, key)
        again = await _call_throttled(pair.b.url, key)  # a new session (on the other instance)
    assert first.is_error is False
    assert again.is_error is True
    error = again.meta["io.toolwire/error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["details"]["rule"] == "limits.tools.limited.throttled.per_key"
    assert 1 <= error["details"]["retry_after_s"] <= 3600


BURST = 300
"""Concurrent calls of one key, far above its limit."""


def test_a_burst_far_above_a_limit_leaves_the_gateway_responsive_for_other_keys(
    pair: Pair,
) -> None:
    _, flooder = pair.key()
    _, calm = pair.key()

    def flood(n: int) -> int:
        with httpx.Client(base_url=pair.a.url if n % 2 else pair.b.url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {flooder}"}
            body = {"tool": "echo", "input": {"message": "x"}}
            return http.post("/api/v1/execute", json=body, headers=headers).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        flooding = [pool.submit(flood, n) for n in range(BURST)]
        calm_latencies = []
        for n in range(2):
            started = time.perf_counter()
            assert pair.call(n, calm, "uuid", {}).status_code == 200
            calm_latencies.append(time.perf_counter() - started)
        statuses = [f.result() for f in flooding]
    assert statuses.count(200) == 2  # echo's per-key limit
    assert statuses.count(429) == BURST - 2
    assert max(calm_latencies) < 10.0, calm_latencies


def test_redis_going_away_refuses_calls_until_it_returns(pair: Pair) -> None:
    if pair.redis is None:
        pytest.skip("memory limits have no storage to lose")
    _, key = pair.key()
    assert pair.call(0, key, "uuid", {}).status_code == 200
    pair.redis.stop()
    try:
        started = time.perf_counter()
        error = refusal(pair.call(1, key, "uuid", {}))
        assert time.perf_counter() - started < 10.0
        assert error["details"] == {"reason": "limits_unavailable", "retry_after_s": 1}
    finally:
        pair.redis.start()
    deadline = time.monotonic() + 15
    while (reply := pair.call(1, key, "uuid", {})).status_code != 200:  # the one that failed
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.2)
    logs = pair.a.logs() + pair.b.logs()
    assert "rate-limit storage failed" in logs
    assert "rate-limit storage answers again" in logs
