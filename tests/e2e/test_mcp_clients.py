"""The official `mcp` Python SDK (v2) as the client of a real toolwire, in every mode it offers:
2026-07-28 (stateless), handshake Streamable HTTP, legacy HTTP+SSE, and `toolwire stdio` (bridge
and local). Plus what needs real processes: two gateways sharing only the secret, and a client
that disconnects mid-call getting its reserved credits back."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support import workers
from toolwire.inbound.mcp.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY
from toolwire.testing import TOOLWIRE, RunningGateway, start_gateway

CONFIG = {"prices": {"echo": 0.5, "test_wait": 1}}
PROFILE = ["--profile", "conformance"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gw = start_gateway(tmp_path_factory.mktemp("mcp-clients"), config=CONFIG, args=PROFILE)
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return gateway.create_account(credits=20, name="mcp-clients")[1]


def balance(gateway: RunningGateway, key: str) -> float:
    with gateway.client(key) as http:
        value: float = http.get("/api/v1/me").json()["balance"]
        return value


@asynccontextmanager
async def http_client(url: str, key: str, mode: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    async with http, Client(streamable_http_client(url + "/mcp", http_client=http), mode=mode) as c:
        yield c


async def list_and_call(client: Client) -> tuple[list[str], Any]:
    tools = await client.list_tools()
    result = await client.call_tool("echo", {"message": "hello"})
    return [t.name for t in tools.tools], result


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy", "auto"])
async def test_the_sdk_lists_and_calls_tools_over_streamable_http(
    gateway: RunningGateway, key: str, mode: str
) -> None:
    with anyio.fail_after(20):
        async with http_client(gateway.url, key, mode) as client:
            names, result = await list_and_call(client)
            version = client.protocol_version
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert {"echo", "calc.evaluate", "test_simple_text"} <= set(names)
    assert result.structured_content == {"echo": "hello", "data": None}
    assert result.meta["io.toolwire/meta"]["credits_charged"] == 0.5


async def test_the_sdk_lists_and_calls_tools_over_legacy_sse(
    gateway: RunningGateway, key: str
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with anyio.fail_after(20):
        async with (
            sse_client(gateway.url + "/sse", headers=headers) as (read, write),
            ClientSession(read, write) as session,
        ):
            init = await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool("echo", {"message": "sse"})
    assert init.protocol_version == "2025-11-25"
    assert "echo" in [t.name for t in tools.tools]
    assert result.structured_content == {"echo": "sse", "data": None}


@pytest.mark.parametrize("how", ["bridge", "local"])
async def test_the_sdk_stdio_client_drives_toolwire_stdio(
    gateway: RunningGateway, key: str, how: str
) -> None:
    args = (
        ["stdio", "--url", gateway.url + "/mcp"]
        if how == "bridge"
        else [
            "stdio",
            "--local",
            "--data-dir",
            str(gateway.data_dir),
            *PROFILE,
        ]
    )
    env = {**os.environ, "TOOLWIRE_API_KEY": key, "TOOLWIRE_LOG_LEVEL": "warning"}
    params = StdioServerParameters(command=TOOLWIRE, args=args, env=env)
    found = {}
    with anyio.fail_after(30):
        for mode in ("legacy", "2026-07-28"):
            async with Client(params, mode=mode) as client:
                names, result = await list_and_call(client)
                found[mode] = (client.protocol_version, "echo" in names, result.structured_content)
    assert found == {
        "legacy": ("2025-11-25", True, {"echo": "hello", "data": None}),
        "2026-07-28": ("2026-07-28", True, {"echo": "hello", "data": None}),
    }


async def _decline(context: Any, params: Any) -> Any:
    raise AssertionError("the tool never sends a sampling request")


@asynccontextmanager
async def any_transport(
    gateway: RunningGateway, key: str, how: str, **opts: Any
) -> AsyncIterator[Any]:
    """A client session (`call_tool`) over `how`, passing `opts` (callbacks) to the SDK."""
    headers = {"Authorization": f"Bearer {key}"}
    if how == "legacy-sse":
        async with (
            sse_client(gateway.url + "/sse", headers=headers) as (read, write),
            ClientSession(read, write, **opts) as session,
        ):
            await session.initialize()
            yield session
        return
    if how in ("modern", "handshake"):
        mode = "2026-07-28" if how == "modern" else "legacy"
        http = httpx2.AsyncClient(headers=headers, timeout=30)
        transport = streamable_http_client(gateway.url + "/mcp", http_client=http)
        async with http, Client(transport, mode=mode, **opts) as client:
            yield client
        return
    local = ["--local", "--data-dir", str(gateway.data_dir), *PROFILE]
    args = ["stdio", *(local if how == "stdio-local" else ["--url", gateway.url + "/mcp"])]
    env = {**os.environ, "TOOLWIRE_API_KEY": key, "TOOLWIRE_LOG_LEVEL": "warning"}
    params = StdioServerParameters(command=TOOLWIRE, args=args, env=env)
    async with Client(params, mode="legacy", **opts) as client:
        yield client


TRANSPORTS = ["modern", "handshake", "legacy-sse", "stdio-bridge", "stdio-local"]


@pytest.mark.parametrize("how", TRANSPORTS)
async def test_every_transport_gives_tools_the_capabilities_the_client_declared(
    gateway: RunningGateway, key: str, how: str
) -> None:
    """Issue 10: legacy SSE dropped the declared capabilities (the kernel keeps them in the
    session's record now); a tool needing `sampling` runs when it is declared, and is refused
    with -32021 (MISSING_CLIENT_CAPABILITY) when it is not, through every transport."""
    with anyio.fail_after(30):
        async with any_transport(gateway, key, how, sampling_callback=_decline) as client:
            declared = await client.call_tool("test_missing_capability", {})
        async with any_transport(gateway, key, how) as client:
            with pytest.raises(MCPError) as undeclared:
                await client.call_tool("test_missing_capability", {})
    assert declared.is_error is False
    assert declared.content[0].text == "the client declared sampling"
    assert undeclared.value.code == MISSING_REQUIRED_CLIENT_CAPABILITY
    assert undeclared.value.data == {"requiredCapabilities": {"sampling": {}}}


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_progress_and_log_notifications_reach_the_sdk(
    gateway: RunningGateway, key: str
) -> None:
    progress: list[float] = []
    logs: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    transport = streamable_http_client(gateway.url + "/mcp", http_client=http)
    with anyio.fail_after(20):
        async with http, Client(transport, mode="legacy", logging_callback=on_log) as client:
            await client.session.set_logging_level("info")
            await client.session.call_tool(
                "test_tool_with_progress", {}, progress_callback=on_progress
            )
            await client.call_tool("test_tool_with_logging", {})
    assert progress == [0, 50, 100]
    assert logs == ["Tool execution started", "Tool processing data", "Tool execution completed"]


async def test_a_client_that_disconnects_mid_call_gets_its_credits_back(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=5, name="disconnect")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "test_wait",
            "arguments": {"seconds": 30},
            "_meta": {
                "progressToken": "t",
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        "authorization": f"Bearer {key}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "test_wait",
    }
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(10):
            async with http.stream(
                "POST", gateway.url + "/mcp", json=body, headers=headers
            ) as response:
                async for line in response.aiter_lines():
                    if "notifications/progress" in line:
                        break  # the call runs: its credit is reserved
                reserved = balance(gateway, key)
    assert reserved == 4
    await wait_until(lambda: balance(gateway, key) == 5)


async def test_notifications_cancelled_stops_the_call_and_releases_credits(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=5, name="cancelled")
    with anyio.fail_after(20):
        async with http_client(gateway.url, key, "legacy") as client:
            started = anyio.Event()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                started.set()

            async def call() -> None:
                await client.session.call_tool(
                    "test_wait", {"seconds": 30}, progress_callback=on_progress
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await started.wait()
                assert balance(gateway, key) == 4
                tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled
    await wait_until(lambda: balance(gateway, key) == 5)


async def wait_until(condition: Any) -> None:
    """Poll an eventually-true fact of another process: no event crosses the process line, so
    this is the one place a test of a subprocess waits by polling (bounded by fail_after)."""
    with anyio.fail_after(10):
        while not await asyncio.to_thread(condition):  # noqa: ASYNC110
            await anyio.sleep(0.05)


def test_a_session_opened_on_one_gateway_continues_on_another_sharing_the_secret(
    tmp_path: Path,
) -> None:
    secret = secrets.token_urlsafe(32)
    env = {"TOOLWIRE_SECRET_KEY": secret}
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    admin = f"tw_admin_{secrets.token_hex(8)}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        a = start_gateway(
            tmp_path / "a", env=env, admin_key=admin, args=["--database-url", database]
        )
        b = start_gateway(
            tmp_path / "b", env=env, admin_key=admin, args=["--database-url", database]
        )
    try:
        _, key = a.create_account(credits=5, name="two")
        auth = {"authorization": f"Bearer {key}", "accept": "application/json"}
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}},
        }
        opened = httpx.post(a.url + "/mcp", json=init, headers=auth)
        session = {
            **auth,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
        call = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "on b"}},
        }
        on_b = httpx.post(b.url + "/mcp", json=call, headers=session)
        ended = httpx.delete(b.url + "/mcp", headers=session)
        closed = httpx.post(b.url + "/mcp", json=call, headers=session)
        started = time.monotonic()
    finally:
        a.stop()
        b.stop()
    assert on_b.json()["result"]["structuredContent"] == {"echo": "on b", "data": None}
    assert ended.status_code == 204
    assert closed.status_code == 404, time.monotonic() - started


REDIS = ("127.0.0.1", 6379)
REDIS_DB = 11
"""A database of the machine's Redis for this test; its keys are few and expire on their own."""


def redis_url() -> str:
    """The machine's Redis, or a skip saying why (a failure when CI=true)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        reachable = probe.connect_ex(REDIS) == 0
    if not reachable:
        reason = f"no Redis listening on {REDIS[0]}:{REDIS[1]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return f"redis://{REDIS[0]}:{REDIS[1]}/{workers.redis_db(REDIS_DB)}"


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


async def test_a_notification_stream_opened_on_one_gateway_resumes_on_another_sharing_redis(
    tmp_path: Path,
) -> None:
    env = {"TOOLWIRE_SECRET_KEY": secrets.token_urlsafe(32), "TOOLWIRE_STATE_URL": redis_url()}
    database = ["--database-url", f"sqlite:///{tmp_path / 'shared.db'}"]
    admin = f"tw_admin_{secrets.token_hex(8)}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        a = start_gateway(tmp_path / "a", env=env, admin_key=admin, args=[*database, *PROFILE])
        b = start_gateway(tmp_path / "b", env=env, admin_key=admin, args=[*database, *PROFILE])
    try:
        _, key = a.create_account(credits=20, name="resume")
        auth = {"authorization": f"Bearer {key}", "accept": "application/json, text/event-stream"}
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}},
        }
        trigger = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "test_trigger_tool_change", "arguments": {}},
        }
        async with httpx.AsyncClient(timeout=30) as http:
            with anyio.fail_after(20):
                opened = await http.post(a.url + "/mcp", json=init, headers=auth)
                session = {
                    **auth,
                    "mcp-session-id": opened.headers["mcp-session-id"],
                    "mcp-protocol-version": "2025-11-25",
                }
                async with http.stream("GET", a.url + "/mcp", headers=session) as on_a:
                    primed = await anext(sse_events(on_a))
                missed = await http.post(a.url + "/mcp", json=trigger, headers=session)
                resumed = {**session, "last-event-id": primed["id"]}
                async with http.stream("GET", b.url + "/mcp", headers=resumed) as on_b:
                    events = sse_events(on_b)
                    replayed = await anext(events)
                    await http.post(a.url + "/mcp", json=trigger, headers=session)
                    live = await anext(events)
    finally:
        a.stop()
        b.stop()
    assert missed.json()["result"]["isError"] is False
    stream, _, first = primed["id"].rpartition(":")
    assert primed["data"] == ""
    assert replayed["data"] == live["data"]
    assert '"notifications/tools/list_changed"' in replayed["data"]
    assert replayed["id"].rpartition(":")[0] == live["id"].rpartition(":")[0] == stream
    assert int(first) < int(replayed["id"].rpartition(":")[2]) < int(live["id"].rpartition(":")[2])
