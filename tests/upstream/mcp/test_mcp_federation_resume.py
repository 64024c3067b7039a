"""A federated resource's update crosses gateway instances: a handshake client subscribes
through instance A, its notification stream resumes on instance B with `Last-Event-ID`, and the
upstream's `notifications/resources/updated` reaches it there, both the one sent while no stream
was open (replayed from the shared change log) and the next one (live).

Two real gateways share one SQLite database, one Redis and the secret; each federates
tests/upstream/mcp/servers/fixture.py (stdio, content on) as `fx`. The update comes from A's
upstream session (the one subscribed upstream), through the state backend, out of B's stream.
Skipped without Redis at 127.0.0.1:6379 (a failure under CI=true).
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.support.cluster import redis_url
from tests.upstream.mcp.support import STARTUP_TIMEOUT_S, fixture_server, wait_ready
from toolwire.testing import RunningGateway, start_gateway

pytestmark = pytest.mark.timeout(240)

NOTE = "toolwire://fx/fixture://note"
VERSION = "2025-11-25"
WAIT_S = 30


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """The frames of an SSE response that carry fields (keep-alive comments skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line:
            if not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        elif fields:
            yield fields
            fields = {}


async def updated_of(events: AsyncIterator[dict[str, str]], uri: str) -> dict[str, str]:
    """The next frame that is `notifications/resources/updated` for `uri`."""
    async for event in events:
        if '"notifications/resources/updated"' in event.get("data", "") and uri in event["data"]:
            return event
    raise AssertionError("the stream ended")


def rpc(rid: int, method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


async def test_an_update_reaches_a_subscription_made_on_a_through_a_stream_resumed_on_b(
    tmp_path: Path,
) -> None:
    env = {
        "TOOLWIRE_SECRET_KEY": secrets.token_urlsafe(32),
        "TOOLWIRE_STATE_URL": redis_url(),
        "TOOLWIRE_UPSTREAM_START_WAIT_S": "0",
    }
    database = ["--database-url", f"sqlite:///{tmp_path / 'shared.db'}"]
    admin = f"tw_admin_{secrets.token_hex(8)}"
    config = {
        "mcp": {"fx": {**fixture_server(), "env": {"FIXTURE_CONTENT": "1"}, "include": ["churn"]}}
    }
    started: list[RunningGateway] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            for name in ("a", "b"):
                started.append(
                    start_gateway(
                        tmp_path / name,
                        env=env,
                        admin_key=admin,
                        config=config,
                        args=database,
                        startup_timeout=STARTUP_TIMEOUT_S,
                    )
                )
        a, b = started
        for running in started:
            wait_ready(running, ["fx"])
        _, key = a.create_account(credits=5, name="resume")
        auth = {"authorization": f"Bearer {key}", "accept": "application/json, text/event-stream"}
        churn = rpc(3, "tools/call", name="fx.churn", arguments={})
        async with httpx.AsyncClient(timeout=60) as http:
            with anyio.fail_after(WAIT_S):
                init = rpc(0, "initialize", protocolVersion=VERSION, capabilities={})
                opened = await http.post(a.url + "/mcp", json=init, headers=auth)
                session = {
                    **auth,
                    "mcp-session-id": opened.headers["mcp-session-id"],
                    "mcp-protocol-version": VERSION,
                }
                subscribe = rpc(1, "resources/subscribe", uri=NOTE)
                subscribed = await http.post(a.url + "/mcp", json=subscribe, headers=session)
                async with http.stream("GET", a.url + "/mcp", headers=session) as on_a:
                    primed = await anext(sse_events(on_a))
                missed = await http.post(a.url + "/mcp", json=churn, headers=session)
                resumed = {**session, "last-event-id": primed["id"]}
                async with http.stream("GET", b.url + "/mcp", headers=resumed) as on_b:
                    events = sse_events(on_b)
                    replayed = await updated_of(events, NOTE)
                    live_churn = await http.post(a.url + "/mcp", json=churn, headers=session)
                    live = await updated_of(events, NOTE)
    finally:
        for running in started:
            running.stop()
    assert "error" not in subscribed.json(), subscribed.json()
    assert missed.json()["result"]["isError"] is False
    assert live_churn.json()["result"]["isError"] is False
    stream, _, first = primed["id"].rpartition(":")
    assert replayed["id"].rpartition(":")[0] == live["id"].rpartition(":")[0] == stream
    assert int(first) < int(replayed["id"].rpartition(":")[2]) < int(live["id"].rpartition(":")[2])
