"""`@modelcontextprotocol/server-everything` (npm, unmodified, pinned in node/package.json)
federated over stdio and over Streamable HTTP, called through toolwire over REST and by the
official `mcp` SDK client in both eras, with billing and audit applied."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.upstream.mcp.support import (
    count_processes,
    everything_over_http,
    execute,
    fixture_over,
    gateway,
    npm_servers,
    upstreams,
)
from toolwire.testing import RunningGateway

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    bin_dir = npm_servers()
    with everything_over_http() as url, fixture_over("sse") as sse_url:
        mcp = {
            "legacy": {
                "url": sse_url,
                "transport": "sse",
                "allow_private_networks": True,
                "include": ["echo", "chatty"],
                "price": 0.03,
            },
            "local": {
                "command": str(bin_dir / "mcp-server-everything"),
                "args": ["stdio"],
                "price": 0.01,
                "tools": {"get-sum": {"price": 0.25, "category": "math"}},
            },
            "remote": {
                "url": url,
                "allow_private_networks": True,
                "price": 0.02,
                "include": ["echo", "get-*", "trigger-long-running-operation"],
                "exclude": ["get-env"],
            },
        }
        with gateway(tmp_path_factory.mktemp("everything"), mcp) as running:
            yield running


@pytest.mark.parametrize(("upstream", "price"), [("local", 0.01), ("remote", 0.02)])
def test_rest_calls_reach_the_upstream_and_are_billed(
    gw: RunningGateway, upstream: str, price: float
) -> None:
    _, key = gw.create_account(credits=10)
    with gw.client(key) as http:
        echoed = execute(http, f"{upstream}.echo", {"message": "hello"})
        image = execute(http, f"{upstream}.get-tiny-image", {})
        structured = execute(http, f"{upstream}.get-structured-content", {"location": "Chicago"})
        bad = execute(http, f"{upstream}.echo", {"message": 42})
    assert echoed["ok"], echoed
    assert echoed["data"]["content"] == [{"type": "text", "text": "Echo: hello"}]
    assert echoed["meta"]["credits_charged"] == price
    kinds = [block["type"] for block in image["data"]["content"]]
    assert "image" in kinds
    assert structured["data"]["structuredContent"].keys() >= {"temperature", "conditions"}
    assert bad["error"]["code"] == "INVALID_ARGUMENTS"  # checked against the upstream's schema
    assert structured["meta"]["balance"] == pytest.approx(10 - 3 * price)


def test_per_tool_price_category_and_globs(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=10)
    with gw.client(key) as http:
        summed = execute(http, "local.get-sum", {"a": 2, "b": 3})
        listed = http.get("/api/v1/tools").json()["tools"]
    assert summed["meta"]["credits_charged"] == 0.25
    by_name = {t["name"]: t for t in listed}
    assert by_name["local.get-sum"]["category"] == "math"
    assert by_name["local.echo"]["category"] == "mcp"
    remote = sorted(n for n in by_name if n.startswith("remote."))
    assert "remote.get-env" not in remote and "remote.toggle-simulated-logging" not in remote
    assert {"remote.echo", "remote.get-sum", "remote.trigger-long-running-operation"} <= set(remote)


def test_calls_are_audited(gw: RunningGateway) -> None:
    account_id, key = gw.create_account(credits=10)
    with gw.client(key) as http:
        execute(http, "local.echo", {"message": "a"})
        execute(http, "remote.echo", {"message": "b"})

    async def usage() -> dict[str, Any]:
        with gw.admin() as admin:
            async with asyncio.timeout(15):  # audit events are written in batches
                while True:
                    rows = admin.get("/admin/v1/usage", params={"account_id": account_id}).json()
                    if sum(r["calls"] for r in rows["usage"]) == 2:
                        return {r["tool"]: r for r in rows["usage"]}
                    await asyncio.sleep(0.1)

    by_tool = asyncio.run(usage())
    assert by_tool["local"]["credits"] == 0.01 and by_tool["remote"]["credits"] == 0.02


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_official_sdk_client_lists_and_calls_federated_tools(
    gw: RunningGateway, mode: str
) -> None:
    _, key = gw.create_account(credits=10)
    import httpx2

    headers = {"Authorization": f"Bearer {key}"}
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            summed = await client.call_tool("local.get-sum", {"a": 20, "b": 22})
            long = await client.call_tool(
                "remote.trigger-long-running-operation",
                {"duration": 1, "steps": 4},
                progress_callback=on_progress,
            )
    assert {"local.echo", "local.get-sum", "remote.echo"} <= names
    assert not summed.is_error
    assert "42" in summed.content[0].text  # type: ignore[union-attr]
    assert not long.is_error
    if mode == "legacy":  # the handshake era streams progress; the gateway forwards it
        assert progress == sorted(progress) and len(progress) >= 2


def test_a_legacy_http_sse_upstream(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=1)
    with gw.client(key) as http:
        echoed = execute(http, "legacy.echo", {"text": "over SSE"})
        chatty = execute(http, "legacy.chatty", {"count": 3})
    assert echoed["data"]["content"] == [{"type": "text", "text": "over SSE"}]
    assert echoed["meta"]["credits_charged"] == 0.03
    assert chatty["ok"], chatty
    assert upstreams(gw)["legacy"]["transport"] == "sse"
    assert upstreams(gw)["legacy"]["protocol_version"]  # the SDK negotiates over SSE too


def test_status_shows_each_transport_one_process_and_latency(gw: RunningGateway) -> None:
    states = upstreams(gw)
    assert states["local"]["transport"] == "stdio"
    assert states["remote"]["transport"] == "streamable_http"
    assert states["local"]["processes"] == 1
    assert count_processes(gw, "mcp-server-everything") == 1  # the HTTP one is not ours
    assert states["local"]["p50_ms"] is not None


def test_a_secret_env_of_a_stdio_server_is_not_in_its_tools_results(tmp_path: Path) -> None:
    """`env_secrets` reach the process from the vault; `get-env` prints the environment, and the
    gateway scrubs the value from the result."""
    bin_dir = npm_servers()
    canary = "canary-" + "f" * 24
    data = tmp_path / "data"
    import subprocess

    from toolwire.testing import TOOLWIRE

    done = subprocess.run(
        [TOOLWIRE, "secrets", "set", "everything_token", "--data-dir", str(data)],
        input=canary + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    mcp = {
        "env": {
            "command": str(bin_dir / "mcp-server-everything"),
            "args": ["stdio"],
            "env_secrets": {"EVERYTHING_TOKEN": "everything_token"},
            "include": ["get-env"],
        }
    }
    with gateway(data, mcp) as gw:
        _, key = gw.create_account(credits=1)
        with gw.client(key) as http:
            body = execute(http, "env.get-env", {})
        logs = gw.logs()
    text = str(body)
    assert body["ok"], body
    assert "EVERYTHING_TOKEN" in text  # the variable reached the process ...
    assert canary not in text and canary not in logs  # ... its value never leaves the gateway
