"""The REST door end to end on each storage backend: a real `toolwire serve` on SQLite and on
PostgreSQL, tools that crash or hang, and money that adds up afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.tools import PLANTED
from toolwire.testing import RunningGateway, running_gateway

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "builtins": {"modules": ["tests.support.tools"]},
    "prices": {"echo": 0.25, "fail": 1, "slow": 1},
    "timeouts": {"slow": 0.3},
}


@pytest.fixture
async def gateway(db_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    env = {"PYTHONPATH": str(REPO)}
    if db_url.startswith("postgresql"):
        env["TOOLWIRE_DATABASE_URL"] = db_url
    with running_gateway(tmp_path, config=CONFIG, env=env) as gw:
        yield gw


def execute(http: httpx.Client, tool: str, payload: dict[str, object]) -> httpx.Response:
    return http.post("/api/v1/execute", json={"tool": tool, "input": payload})


def balance(http: httpx.Client) -> float:
    return float(http.get("/api/v1/me").json()["balance"])


async def test_a_priced_call_is_charged_and_the_envelope_reports_it(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=10)
    with gateway.client(key) as http:
        reply = execute(http, "echo", {"message": "hi"})
        assert reply.status_code == 200
        body = reply.json()
        assert body["ok"] is True
        assert body["data"]["echo"] == "hi"
        assert body["meta"]["credits_charged"] == 0.25
        assert body["meta"]["balance"] == 9.75
        assert reply.headers["x-request-id"] == body["meta"]["request_id"]
        assert balance(http) == 9.75


async def test_an_exception_inside_a_tool_is_502_without_its_text_and_costs_nothing(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=10)
    with gateway.client(key) as http:
        reply = execute(http, "fail.crash", {})
        assert reply.status_code == 502
        body = reply.json()
        assert body["error"]["code"] == "UPSTREAM_ERROR"
        assert PLANTED not in reply.text
        assert "Traceback" not in reply.text
        assert body["meta"]["credits_charged"] == 0
        assert balance(http) == 10
    gateway.stop()
    logs = gateway.logs()
    assert "Traceback" in logs
    assert "RuntimeError" in logs


async def test_a_tool_past_its_timeout_is_504_and_costs_nothing(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=10)
    with gateway.client(key) as http:
        reply = execute(http, "slow.sleep", {"seconds": 30})
        assert reply.status_code == 504
        assert reply.json()["error"]["code"] == "UPSTREAM_TIMEOUT"
        assert balance(http) == 10
        assert execute(http, "slow.sleep", {"seconds": 0.01}).status_code == 200
        assert balance(http) == 9


async def test_credits_run_out_exactly_and_the_rest_are_402(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=1)
    with gateway.client(key) as http:
        codes = [execute(http, "echo", {"message": str(i)}).status_code for i in range(6)]
        assert codes == [200, 200, 200, 200, 402, 402]
        last = execute(http, "echo", {"message": "x"}).json()
        assert last["error"]["code"] == "INSUFFICIENT_CREDITS"
        assert balance(http) == 0
