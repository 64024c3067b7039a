"""Virtual servers end to end on one real `toolwire serve`: `/mcp/<name>` through the official
`mcp` client in both eras, `?server=` over REST, and keys limited to servers at every layer."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from toolwire.testing import TOOLWIRE, RunningGateway, running_gateway

CONFIG = {
    "builtins": {"include": ["echo", "calc", "uuid"]},
    "servers": {
        "math": {"tools": ["calc.*"], "description": "arithmetic only"},
        "words": {"tools": ["echo", "uuid"]},
    },
}
WORDS = {"echo", "uuid.generate"}
"""The `words` server's tools, as listed (`uuid` is one operation of a multi-operation tool)."""
MODES = [pytest.param("2026-07-28", id="stateless"), pytest.param("legacy", id="handshake")]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("servers"), config=CONFIG) as gw:
        yield gw


def limited_key(gateway: RunningGateway, servers: list[str] | None) -> str:
    with gateway.admin() as admin:
        account = admin.post("/admin/v1/accounts", json={"name": "vs", "credits": 10})
        account_id = account.json()["account"]["id"]
        made = admin.post(
            f"/admin/v1/accounts/{account_id}/keys",
            json={"name": "vs", "scopes": ["*"], "servers": servers},
        )
        assert made.status_code == 201, made.text
        assert made.json()["key"]["servers"] == servers
        return str(made.json()["secret"])


async def mcp_names(gateway: RunningGateway, key: str, path: str, mode: str) -> set[str]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    transport = streamable_http_client(gateway.url + path, http_client=http)
    async with http, Client(transport, mode=mode, cache=None) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def mcp_refusal(gateway: RunningGateway, key: str, path: str, mode: str, tool: str) -> str:
    """The MCP error calling `tool` at `path` gets (fails when the call is not refused)."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    transport = streamable_http_client(gateway.url + path, http_client=http)
    async with http, Client(transport, mode=mode, cache=None) as client:
        try:
            result = await client.call_tool(tool, {"message": "hi"})
        except MCPError as exc:
            return str(exc)
    raise AssertionError(f"{tool} was not refused at {path}: {result}")


@pytest.mark.parametrize("mode", MODES)
async def test_mcp_at_a_virtual_server_lists_and_calls_only_its_tools(
    gateway: RunningGateway, mode: str
) -> None:
    _, key = gateway.create_account()
    everything = await mcp_names(gateway, key, "/mcp", mode)
    math = await mcp_names(gateway, key, "/mcp/math", mode)
    assert math and all(name.startswith("calc.") for name in math)
    assert "echo" in everything and "echo" not in math
    assert await mcp_names(gateway, key, "/mcp/words", mode) == WORDS
    # outside the server: the very error of an unknown tool
    assert await mcp_refusal(gateway, key, "/mcp/math", mode, "echo") == "no tool named 'echo'"


def test_rest_lists_a_virtual_server_with_the_server_parameter(gateway: RunningGateway) -> None:
    _, key = gateway.create_account()
    with gateway.client(key) as http:
        listed = http.get("/api/v1/tools", params={"server": "words"})
        assert listed.status_code == 200
        assert {t["name"] for t in listed.json()["tools"]} == WORDS
        unknown = http.get("/api/v1/tools", params={"server": "nosuch"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["details"]["servers"] == ["math", "words"]


async def test_a_key_limited_to_a_server_is_refused_everything_else_at_every_path(
    gateway: RunningGateway,
) -> None:
    key = limited_key(gateway, ["words"])
    assert await mcp_names(gateway, key, "/mcp", "legacy") == WORDS
    assert await mcp_names(gateway, key, "/mcp/math", "legacy") == set()
    with gateway.client(key) as http:
        assert {t["name"] for t in http.get("/api/v1/tools").json()["tools"]} == WORDS
        refused = http.post("/api/v1/execute", json={"tool": "calc.evaluate", "input": {}})
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "TOOL_NOT_FOUND"
        ok = http.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "hi"}})
        assert ok.status_code == 200, ok.text


def test_a_key_cannot_be_limited_to_a_server_the_catalog_does_not_declare(
    gateway: RunningGateway,
) -> None:
    with gateway.admin() as admin:
        account_id = admin.post("/admin/v1/accounts", json={"name": "x"}).json()["account"]["id"]
        made = admin.post(
            f"/admin/v1/accounts/{account_id}/keys", json={"name": "x", "servers": ["nosuch"]}
        )
        assert made.status_code == 400
        assert made.json()["error"]["details"] == {"server": "nosuch", "servers": ["math", "words"]}


async def test_stdio_local_serves_one_virtual_server(gateway: RunningGateway) -> None:
    _, key = gateway.create_account()
    args = ["stdio", "--local", "--server", "math", "--data-dir", str(gateway.data_dir)]
    args += ["--config", str(gateway.data_dir / "toolwire.yaml")]
    env = {"PATH": os.environ.get("PATH", ""), "TOOLWIRE_API_KEY": key}
    params = StdioServerParameters(command=TOOLWIRE, args=args, env=env)
    with (gateway.data_dir / "stdio-server.stderr").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
    assert names and all(name.startswith("calc.") for name in names)
