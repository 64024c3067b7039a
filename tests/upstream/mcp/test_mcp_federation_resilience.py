"""The bad-input list of issue 11 against real upstream processes (tests/upstream/mcp/servers/
fixture.py, the official SDK's server, over stdio): a crash mid-call, a hung upstream, enormous
results, notification floods, invalid tool names and schemas, upstreams that never answer
`initialize` or write garbage, one that is not there at all, a tool list that changes, and 100
client sessions sharing one upstream process."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client, IncomingMessage
from mcp.client.streamable_http import streamable_http_client

from tests.upstream.mcp.support import (
    count_processes,
    execute,
    fixture_server,
    gateway,
    upstreams,
)
from toolwire.testing import RunningGateway

pytestmark = pytest.mark.timeout(300)

ACCEPT_BOTH = "application/json, text/event-stream"
SILENT = "import time; time.sleep(3600)"
GARBAGE = "import sys, time; print('this is not JSON-RPC', flush=True); time.sleep(3600)"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    mcp = {
        "fx": {
            **fixture_server(),
            "price": 0.5,
            "ping_interval": 1,
            "max_result_bytes": 65536,
            "max_notifications": 5,
            "max_concurrency": 200,  # 100 sessions call at once (the default cap is 64)
            "tools": {"hang": {"timeout": 120}},
        },
        "bad": fixture_server("bad"),
        "gone": {"command": "/nonexistent/mcp-server"},
        "silent": {"command": sys.executable, "args": ["-c", SILENT], "connect_timeout": 2},
        "garbage": {"command": sys.executable, "args": ["-c", GARBAGE], "connect_timeout": 2},
    }
    with gateway(tmp_path_factory.mktemp("resilience"), mcp, ready=["fx", "bad"]) as running:
        yield running


def test_upstreams_that_are_absent_silent_or_garbled_leave_the_rest_serving(
    gw: RunningGateway,
) -> None:
    states = upstreams(gw)
    for name in ("gone", "silent", "garbage"):
        assert states[name]["state"] in ("down", "connecting"), states[name]
        assert states[name]["tools"] == 0
    deadline = time.monotonic() + 30
    while not all(upstreams(gw)[n]["last_error"] for n in ("gone", "silent", "garbage")):
        assert time.monotonic() < deadline, upstreams(gw)
        time.sleep(0.2)
    states = upstreams(gw)
    assert "command not found" in states["gone"]["last_error"]
    assert "did not complete the MCP handshake within 2s" in states["silent"]["last_error"]
    _, key = gw.create_account(credits=5)
    with gw.client(key) as http:
        assert execute(http, "echo", {"message": "still here"})["ok"]
        assert execute(http, "fx.echo", {"text": "and here"})["ok"]
        missing = execute(http, "gone.anything", {})
    assert missing["error"]["code"] == "TOOL_NOT_FOUND"


def test_invalid_tool_names_are_spelled_validly_and_invalid_schemas_skipped(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=5)
    with gw.client(key) as http:
        names = {t["name"] for t in http.get("/api/v1/tools").json()["tools"]}
        called = execute(http, "bad.dotted-name-v2", {"x": "y"})
    bad = sorted(n for n in names if n.startswith("bad."))
    assert "bad.fine" in bad and "bad.dotted-name-v2" in bad
    assert "bad.broken_schema" not in bad
    long = [n for n in bad if n.startswith("bad.xxxx")]
    assert len(long) == 1 and len(long[0]) == len("bad.") + 30
    # the call reaches the upstream under its own name
    assert called["data"]["content"][0]["text"].startswith("called dotted.name v2")
    logs = gw.logs()
    assert "'broken_schema' skipped: its input schema is invalid" in logs
    assert "'dotted-name-v2' skipped: its name spelled for every format" in logs


def test_an_enormous_result_fails_the_call_and_says_the_cap(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=5)
    with gw.client(key) as http:
        small = execute(http, "fx.big", {"kib": 8})
        huge = execute(http, "fx.big", {"kib": 200})
        balance = http.get("/api/v1/me").json()["balance"]
    assert small["ok"], small
    assert len(small["data"]["content"][0]["text"]) == 8 * 1024
    assert huge["error"]["code"] == "UPSTREAM_ERROR"
    assert huge["error"]["details"]["reason"] == "too_large"
    assert huge["error"]["details"]["limit_bytes"] == 65536
    assert "over the limit of 65536" in huge["error"]["message"]
    assert balance == 4.5  # the failed call was not charged


async def mcp_client(
    gw: RunningGateway, key: str, mode: str = "legacy", **kwargs: Any
) -> tuple[httpx2.AsyncClient, Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    client = Client(streamable_http_client(f"{gw.url}/mcp", http_client=http), mode=mode, **kwargs)
    return http, client


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging
async def test_a_notification_flood_is_capped_per_call(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=5)
    progress: list[float] = []
    lines: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        lines.append(params.data)

    http, client = await mcp_client(gw, key, logging_callback=on_log)
    async with http, client:
        await client.set_logging_level("debug")
        result = await client.call_tool("fx.chatty", {"count": 100}, progress_callback=on_progress)
    assert not result.is_error and result.content[0].text == "done"  # type: ignore[union-attr]
    assert 1 <= len(progress) + len(lines) <= 5
    assert progress == sorted(progress)
    assert "notifications of one call over the cap of 5 dropped" in gw.logs()


async def test_a_changed_upstream_tool_list_reaches_connected_clients(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=5)
    changed = asyncio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    http, client = await mcp_client(gw, key, message_handler=on_message)
    async with http, client:
        before = {t.name for t in (await client.list_tools()).tools}
        assert "fx.added" not in before
        await client.call_tool("fx.grow", {})
        async with asyncio.timeout(30):
            await changed.wait()
        after = {t.name for t in (await client.list_tools()).tools}
        added = await client.call_tool("fx.added", {})
    assert "fx.added" in after
    assert added.content[0].text == "added here"  # type: ignore[union-attr]


async def test_a_hung_upstream_does_not_slow_other_tools(gw: RunningGateway) -> None:
    """p50 of a built-in with 50 calls to a hung upstream outstanding stays within 2x of its
    p50 without them. The machine is shared and noisy, so the two states are interleaved:
    `CYCLES` times, 50 hung calls are started, the built-in sampled, the hung calls abandoned
    and the built-in sampled again; each cycle's ratio is its hung median over the mean of the
    quiet medians either side of it, and the median of those ratios must be <= 2 (one burst of
    noise spoils one cycle, not the verdict; a real slowdown shows in every cycle). Each median
    is of `SAMPLES` calls; the hung calls go through a client of their own. Abandoning the hung
    calls releases their reservations. Seen under load 8-10: per-cycle ratios 0.3-3.2, medians
    1.16 and 1.33 (the old single before/during/after comparison: 1.4x-3.6x)."""
    _, key = gw.create_account(credits=100)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=120) as http,
        # the hung calls get a client of their own: the pool of the one that measures stays small
        httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=120) as hanging,
    ):

        async def p50(rounds: int = SAMPLES) -> float:
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                answer = await http.post(
                    "/api/v1/execute", json={"tool": "echo", "input": {"message": "x"}}
                )
                assert answer.status_code == 200
                times.append(time.perf_counter() - started)
            return statistics.median(times)

        async def in_flight_reaches(count: int) -> None:
            async with asyncio.timeout(30):
                while upstreams(gw)["fx"]["in_flight"] != count:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            await asyncio.sleep(SETTLE_S)  # the 50 starts (or releases) are written, not pending

        await p50(10)  # warm
        quiet = [await p50()]
        hung_p50: list[float] = []
        for _ in range(CYCLES):
            hung = [
                asyncio.create_task(
                    hanging.post("/api/v1/execute", json={"tool": "fx.hang", "input": {}})
                )
                for _ in range(50)
            ]
            await in_flight_reaches(50)
            hung_p50.append(await p50())
            for task in hung:
                task.cancel()
            await asyncio.gather(*hung, return_exceptions=True)
            await in_flight_reaches(0)
            quiet.append(await p50())
    ratios = [h / ((quiet[i] + quiet[i + 1]) / 2) for i, h in enumerate(hung_p50)]
    print(
        "built-in p50 ms quiet "
        + " ".join(f"{q * 1000:.2f}" for q in quiet)
        + " | with 50 hung upstream calls "
        + " ".join(f"{h * 1000:.2f}" for h in hung_p50)
        + f" | ratios {' '.join(f'{r:.2f}' for r in ratios)}"
    )
    assert statistics.median(ratios) <= 2.0, (quiet, hung_p50, ratios)
    async with asyncio.timeout(30):
        while True:
            with gw.client(key) as client:
                if client.get("/api/v1/me").json()["balance"] == 100:
                    break
            await asyncio.sleep(0.2)
    assert upstreams(gw)["fx"]["in_flight"] == 0


CYCLES = 7
SETTLE_S = 0.3
SAMPLES = 100
"""Hung/quiet alternations in the hung-upstream test (odd: the median is one cycle's ratio)."""


async def rpc(http: httpx.AsyncClient, url: str, headers: dict[str, str], body: Any) -> Any:
    answer = await http.post(url, json=body, headers=headers)
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        for line in answer.text.splitlines():
            if line.startswith("data:"):
                return orjson_loads(line[5:])
    return answer.json()


def orjson_loads(text: str) -> Any:
    import orjson

    return orjson.loads(text)


async def test_a_hundred_client_sessions_share_one_upstream_process(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=100)
    url = f"{gw.url}/mcp"
    base = {"authorization": f"Bearer {key}", "accept": ACCEPT_BOTH}
    async with httpx.AsyncClient(timeout=60) as http:

        async def session(i: int) -> str:
            init = {"protocolVersion": "2025-11-25", "capabilities": {}}
            opened = await http.post(
                url,
                json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init},
                headers=base,
            )
            headers = {
                **base,
                "mcp-session-id": opened.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-11-25",
            }
            params = {"name": "fx.echo", "arguments": {"text": f"s{i}"}}
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            answer = await rpc(http, url, headers, body)
            text: str = answer["result"]["content"][0]["text"]
            return text

        texts = await asyncio.gather(*(session(i) for i in range(100)))
    assert sorted(texts) == sorted(f"s{i}" for i in range(100))
    assert count_processes(gw, "fixture.py") == 2  # fx and bad: one process each
    assert upstreams(gw)["fx"]["processes"] == 1


def test_an_upstream_crashing_mid_call_is_restarted_and_the_call_released(
    gw: RunningGateway,
) -> None:
    """Last in this module: it kills fx's process."""
    _, key = gw.create_account(credits=10)
    restarts = upstreams(gw)["fx"]["restarts"]
    with gw.client(key) as http:
        crashed = execute(http, "fx.crash", {"after": 0.3})
        balance = http.get("/api/v1/me").json()["balance"]
        assert crashed["error"]["code"] == "UPSTREAM_ERROR", crashed
        assert crashed["error"]["details"]["reason"] == "connection_lost"
        assert crashed["meta"]["credits_charged"] == 0
        assert balance == 10  # the reservation was released
        deadline = time.monotonic() + 60
        while (
            upstreams(gw)["fx"]["restarts"] <= restarts or upstreams(gw)["fx"]["state"] != "ready"
        ):
            assert time.monotonic() < deadline, upstreams(gw)
            time.sleep(0.1)
        again = execute(http, "fx.echo", {"text": "back"})
    assert again["ok"] and again["data"]["content"][0]["text"] == "back"
    assert again["meta"]["credits_charged"] == 0.5
    assert count_processes(gw, "fixture.py") == 2
