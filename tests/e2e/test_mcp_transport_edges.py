"""Issue 9, MCP transport items that need a real gateway process:

1. cancelling a call: no JSON-RPC response, the POST ends cleanly, credits released, no
   traceback in the log (SSE stream, JSON-only client, and a call inside a 2025-03-26 batch);
3. the legacy SSE `endpoint` event behind a reverse proxy that strips the public path, driven
   by the official SDK's SSE client;
6. `toolwire stdio --url`: names that no header carries raw, and every request answered.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from starlette.types import Receive, Scope, Send

from tests.e2e.test_mcp_clients import balance, wait_until
from tests.upstream.servers import serving
from toolwire.testing import TOOLWIRE, RunningGateway, free_port, start_gateway

PREFIX = "/tw"
PROXY_PORT = free_port()
CONFIG = {"prices": {"echo": 0.5, "test_wait": 1}}
ACCEPT_BOTH = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    env = {"TOOLWIRE_PUBLIC_URL": f"http://127.0.0.1:{PROXY_PORT}{PREFIX}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gw = start_gateway(
            tmp_path_factory.mktemp("mcp-edges"),
            config=CONFIG,
            env=env,
            args=["--profile", "conformance"],
        )
    try:
        yield gw
    finally:
        gw.stop()


def no_traceback(gateway: RunningGateway) -> None:
    logs = gateway.logs()
    assert "Traceback" not in logs and "CancelledError" not in logs, logs[-2000:]


async def initialize(http: httpx.AsyncClient, url: str, key: str, version: str) -> dict[str, str]:
    headers = {"authorization": f"Bearer {key}", "accept": ACCEPT_BOTH}
    body = {"protocolVersion": version, "capabilities": {}}
    opened = await http.post(
        url + "/mcp",
        json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": body},
        headers=headers,
    )
    return {
        **headers,
        "mcp-session-id": opened.headers["mcp-session-id"],
        "mcp-protocol-version": version,
    }


def wait_call(rid: int, seconds: float = 8, progress: bool = True) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "test_wait", "arguments": {"seconds": seconds}}
    if progress:
        params["_meta"] = {"progressToken": f"t{rid}"}
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


def cancelled(rid: int) -> dict[str, Any]:
    params = {"requestId": rid, "reason": "user abort"}
    return {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}


# -- 1. cancellation ----------------------------------------------------------------------------


@pytest.mark.parametrize("progress", [False, True], ids=["before-any-event", "mid-stream"])
async def test_the_issue_case_a_cancelled_call_ends_its_sse_post_without_a_response(
    gateway: RunningGateway, progress: bool
) -> None:
    _, key = gateway.create_account(credits=5, name="cancel-sse")
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(15):
            session = await initialize(http, gateway.url, key, "2025-11-25")
            body = wait_call(1, progress=progress)
            call = asyncio.create_task(http.post(gateway.url + "/mcp", json=body, headers=session))
            await wait_until(lambda: balance(gateway, key) == 4)  # running: 1 credit reserved
            cancel = await http.post(gateway.url + "/mcp", json=cancelled(1), headers=session)
            response = await call
    data = [line for line in response.text.splitlines() if line.startswith("data:")]
    assert (cancel.status_code, response.status_code) == (202, 200)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert all('"notifications/progress"' in line for line in data), data
    await wait_until(lambda: balance(gateway, key) == 5)
    no_traceback(gateway)


async def test_a_cancelled_call_of_a_json_only_client_ends_with_202_and_no_body(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=5, name="cancel-json")
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(15):
            session = await initialize(http, gateway.url, key, "2025-06-18")
            json_only = {**session, "accept": "application/json"}
            call = asyncio.create_task(
                http.post(
                    gateway.url + "/mcp", json=wait_call(2, progress=False), headers=json_only
                )
            )
            await wait_until(lambda: balance(gateway, key) == 4)
            await http.post(gateway.url + "/mcp", json=cancelled(2), headers=session)
            response = await call
    assert (response.status_code, response.content) == (202, b"")
    await wait_until(lambda: balance(gateway, key) == 5)
    no_traceback(gateway)


async def test_a_call_cancelled_inside_a_batch_is_left_out_of_the_batch_answer(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=5, name="cancel-batch")
    echo = {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "kept"}},
    }
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(15):
            session = await initialize(http, gateway.url, key, "2025-03-26")
            batch = [wait_call(3, progress=False), echo]
            call = asyncio.create_task(http.post(gateway.url + "/mcp", json=batch, headers=session))
            await wait_until(lambda: balance(gateway, key) == 3.5)  # echo charged, wait reserved
            await http.post(gateway.url + "/mcp", json=cancelled(3), headers=session)
            response = await call
    assert response.status_code == 200
    assert [entry["id"] for entry in response.json()] == [4]
    await wait_until(lambda: balance(gateway, key) == 4.5)
    no_traceback(gateway)


# -- 3. the legacy SSE endpoint behind a path-stripping proxy -----------------------------------


def stripping_proxy(upstream: str, prefix: str) -> Any:
    """A reverse proxy serving `upstream` under `prefix` (stripped before forwarding), streaming
    answers as they come (SSE included) until the client leaves."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] != "http" or not path.startswith(prefix + "/"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        url = upstream + path[len(prefix) :] + (f"?{query}" if query else "")
        skip = {b"host", b"content-length", b"connection"}
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in skip]
        async with httpx.AsyncClient(timeout=None) as client:
            request = client.build_request(scope["method"], url, headers=headers, content=body)
            response = await client.send(request, stream=True)
            try:
                drop = {"content-length", "transfer-encoding", "connection"}
                out = [(k.encode(), v.encode()) for k, v in response.headers.items()]
                out = [(k, v) for k, v in out if k.decode().lower() not in drop]
                await send(
                    {"type": "http.response.start", "status": response.status_code, "headers": out}
                )
                async with anyio.create_task_group() as tg:

                    async def until_gone() -> None:
                        while (await receive())["type"] != "http.disconnect":
                            pass
                        tg.cancel_scope.cancel()

                    tg.start_soon(until_gone)
                    async for chunk in response.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    tg.cancel_scope.cancel()
                await send({"type": "http.response.body", "body": b""})
            finally:
                await response.aclose()

    return app


async def test_the_issue_case_the_sdk_sse_client_works_behind_a_path_stripping_proxy(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=5, name="legacy-proxy")
    headers = {"Authorization": f"Bearer {key}"}
    with serving(stripping_proxy(gateway.url, PREFIX), port=PROXY_PORT) as proxy:
        public = f"{proxy.url}{PREFIX}"
        async with httpx.AsyncClient(timeout=30) as http:
            with anyio.fail_after(10):
                async with http.stream("GET", public + "/sse", headers=headers) as stream:
                    lines = stream.aiter_lines()
                    endpoint = [await anext(lines) for _ in range(2)]
        with anyio.fail_after(20):
            async with (
                sse_client(public + "/sse", headers=headers) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                result = await session.call_tool("echo", {"message": "via proxy"})
    assert endpoint[0] == "event: endpoint"
    assert endpoint[1].startswith("data: messages?sessionId=")  # relative to the SSE URL
    assert result.structured_content == {"echo": "via proxy", "data": None}
    assert balance(gateway, key) == 4.5


# -- 6. the stdio bridge against the real gateway -----------------------------------------------


def bridge_params(gateway: RunningGateway, key: str) -> StdioServerParameters:
    env = {**os.environ, "TOOLWIRE_API_KEY": key, "TOOLWIRE_LOG_LEVEL": "warning"}
    return StdioServerParameters(
        command=TOOLWIRE, args=["stdio", "--url", gateway.url + "/mcp"], env=env
    )


@pytest.mark.parametrize("name", ["é", " echo"])
async def test_the_issue_case_the_sdk_gets_a_reply_for_names_no_header_carries_raw(
    gateway: RunningGateway, name: str
) -> None:
    _, key = gateway.create_account(credits=5, name="bridge-names")
    with anyio.fail_after(30):
        async with Client(bridge_params(gateway, key), mode="2026-07-28") as client:
            with pytest.raises(MCPError) as raised:
                await client.call_tool(name, {})
            ok = await client.call_tool("echo", {"message": "still up"})
    assert raised.value.error.code == -32602  # unknown tool: the gateway answered
    assert ok.structured_content == {"echo": "still up", "data": None}


async def test_every_request_through_the_bridge_gets_one_reply_with_its_id(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=5, name="bridge-raw")
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }

    def modern(rid: Any, method: str, **params: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": rid, "method": method, "params": {**params, "_meta": meta}}

    sent = [
        modern(1, "tools/call", name="é", arguments={}),
        modern(2, "tools/call", name=" echo", arguments={}),
        modern("three", "tools/call", name="echo", arguments={"message": "é"}),
        modern(4, "no/such"),
        modern(5, "tools/call", name="test_header_param", arguments={"region": "x"}),
        {"jsonrpc": "2.0", "id": 6, "method": "tools/list"},  # handshake without a session
        modern(7, "tools/call", name="名前\n", arguments={}),
    ]
    env = {**os.environ, "TOOLWIRE_API_KEY": key, "TOOLWIRE_LOG_LEVEL": "warning"}
    process = await asyncio.create_subprocess_exec(
        TOOLWIRE,
        "stdio",
        "--url",
        gateway.url + "/mcp",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"".join(orjson.dumps(m) + b"\n" for m in sent))
    await process.stdin.drain()
    process.stdin.close()
    with anyio.fail_after(30):
        out, _ = await process.communicate()
    replies = [orjson.loads(line) for line in out.splitlines()]
    by_id = {r["id"]: r for r in replies}
    assert len(replies) == len(sent) == len(by_id)
    codes = {rid: r["error"]["code"] for rid, r in by_id.items() if "error" in r}
    assert codes == {1: -32602, 2: -32602, 4: -32601, 5: -32020, 6: -32600, 7: -32602}
    assert by_id["three"]["result"]["structuredContent"] == {"echo": "é", "data": None}
