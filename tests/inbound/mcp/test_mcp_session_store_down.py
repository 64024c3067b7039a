"""An MCP session whose state record cannot be read (the state backend, a private Redis, stopped
while the session is open) is `UNAVAILABLE` in the transport table's form (503, `Retry-After`,
a JSON-RPC error carrying the toolwire error), the same answer as an unreachable key store: never
"session not found" (which makes a client start over) and never a crash.

A real gateway process (`toolwire serve`) on 127.0.0.1, a private `redis-server`, raw HTTP."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.redis_server import PrivateRedis
from toolwire.core.errors import Unavailable
from toolwire.inbound.mcp.refusals import TRANSPORT
from toolwire.testing import RunningGateway, start_gateway

REPO = Path(__file__).resolve().parents[3]
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
VERSION = "2025-06-18"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, PrivateRedis]]:
    root = tmp_path_factory.mktemp("mcp-state-down")
    redis = PrivateRedis(root)
    redis.start()
    env = {"PYTHONPATH": str(REPO), "TOOLWIRE_STATE_URL": redis.url}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        running = start_gateway(root / "gw", env=env)
    try:
        yield running, redis
    finally:
        running.stop()
        redis.stop()


def _rpc(method: str, rid: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}


def test_a_session_whose_state_cannot_be_read_is_unavailable(
    gateway: tuple[RunningGateway, PrivateRedis],
) -> None:
    running, redis = gateway
    _, key = running.create_account(10, name="session")
    headers = {**HEADERS, "authorization": f"Bearer {key}"}
    with httpx.Client(base_url=running.url, headers=headers, timeout=30) as http:
        init = {
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        opened = http.post("/mcp", json=_rpc("initialize", 1, init))
        assert opened.status_code == 200, opened.text
        session = {
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": VERSION,
        }
        http.post(
            "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
        )
        # the session is kept in Redis once something in it changes
        assert (
            http.post(
                "/mcp", json=_rpc("logging/setLevel", 2, {"level": "info"}), headers=session
            ).status_code
            == 200
        )
        redis.stop()
        try:
            listed = http.post("/mcp", json=_rpc("tools/list", 3), headers=session)
            ended = http.delete("/mcp", headers=session)
        finally:
            redis.start()
        again = http.post("/mcp", json=_rpc("tools/list", 4), headers=session)
    row = TRANSPORT[Unavailable]
    for reply in (listed, ended):
        assert reply.status_code == row.status, reply.text
        assert reply.headers["retry-after"] == str(Unavailable.retry_after_s)
        error = reply.json()["error"]
        assert (error["code"], error["data"]["code"]) == (row.rpc, "UNAVAILABLE")
    assert again.status_code == 200, again.text  # the same session, once the store is back
    assert "tools" in again.json()["result"]
