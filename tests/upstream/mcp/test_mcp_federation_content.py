"""Resources and prompts of `@modelcontextprotocol/server-everything` (npm, unmodified, stdio)
federated through toolwire, read by the official `mcp` SDK client: namespaced, scoped,
paged, audited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.upstream.mcp.support import gateway, npm_servers
from toolwire.testing import RunningGateway

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    bin_dir = npm_servers()
    mcp = {"local": {"command": str(bin_dir / "mcp-server-everything"), "args": ["stdio"]}}
    with gateway(tmp_path_factory.mktemp("content"), mcp) as running:
        yield running


@asynccontextmanager
async def sdk_client(
    gw: RunningGateway, key: str, mode: str = "legacy", **callbacks: Any
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with Client(transport, mode=mode, cache=None, **callbacks) as client:
            yield client


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_resources_are_listed_namespaced_and_read_back(gw: RunningGateway, mode: str) -> None:
    _, key = gw.create_account(credits=1)
    async with sdk_client(gw, key, mode) as client:
        uris: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await client.list_resources(cursor=cursor)
            uris.extend(str(r.uri) for r in page.resources)
            pages += 1
            cursor = page.next_cursor
            if not cursor:
                break
        templates = await client.list_resource_templates()
        document = next(u for u in uris if "/static/document/" in u)
        read = await client.read_resource(document)
    assert uris and all(u.startswith("toolwire://local/demo://") for u in uris), uris[:3]
    assert len(uris) == len(set(uris))
    assert any(
        t.uri_template.startswith("toolwire://local/demo://resource/dynamic/")
        for t in templates.resource_templates
    )
    assert read.contents and str(read.contents[0].uri) == document
    assert read.contents[0].text  # type: ignore[union-attr]


async def test_prompts_are_listed_namespaced_and_got_with_arguments(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=1)
    async with sdk_client(gw, key) as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        got = await client.get_prompt("local.args-prompt", {"city": "Lyon", "state": "Rhone"})
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("local.no-such-prompt", {})
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("nowhere.simple-prompt", {})
    assert {"local.simple-prompt", "local.args-prompt"} <= names
    assert got.messages[0].content.text == "What's weather in Lyon, Rhone?"  # type: ignore[union-attr]
    assert missing.value.error.data["details"]["reason"] == "mcp_error"  # the upstream's own answer
    assert missing.value.error.data["code"] == "UPSTREAM_ERROR"
    assert "not found" in unknown.value.error.message


async def test_a_key_without_the_upstreams_scopes_sees_and_reads_nothing(
    gw: RunningGateway,
) -> None:
    _, full = gw.create_account(credits=1)
    _, narrow = gw.create_account(credits=1, scopes=["local.echo"])
    _, prompts_only = gw.create_account(credits=1, scopes=["local.prompts"])
    async with sdk_client(gw, full) as client:
        document = str((await client.list_resources()).resources[0].uri)
    async with sdk_client(gw, narrow) as client:
        assert (await client.list_resources()).resources == []
        assert (await client.list_prompts()).prompts == []
        with pytest.raises(MCPError) as denied:
            await client.read_resource(document)
    async with sdk_client(gw, prompts_only) as client:
        assert (await client.list_resources()).resources == []
        assert (await client.list_prompts()).prompts
    assert denied.value.error.code == -32002  # exactly as an unknown resource


def test_reads_and_gets_are_audited_uncharged(gw: RunningGateway, tmp_path: Path) -> None:
    import asyncio

    account_id, key = gw.create_account(credits=1)

    async def go() -> list[dict[str, object]]:
        async with sdk_client(gw, key) as client:
            await client.get_prompt("local.simple-prompt", {})
        with gw.admin() as admin:
            async with asyncio.timeout(15):  # audit events are written in batches
                while True:
                    rows = admin.get("/admin/v1/audit", params={"account_id": account_id}).json()
                    events = rows["records"]
                    if events:
                        return list(events)
                    await asyncio.sleep(0.1)

    events = asyncio.run(go())
    assert events[0]["tool"] == "local" and events[0]["operation"] == "prompts/get"
    assert events[0]["outcome"] == "ok" and events[0]["credits_charged"] == 0


async def test_an_upstreams_sampling_request_reaches_the_client_that_declared_sampling(
    gw: RunningGateway,
) -> None:
    """server-everything's `trigger-sampling-request` asks its client (toolwire) to sample;
    toolwire asks the MCP client whose call it is, and its answer goes back upstream."""
    _, key = gw.create_account(credits=1)
    asked: list[types.CreateMessageRequestParams] = []

    async def sample(
        _context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        asked.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="sampled by the test client"),
            model="test-model",
            stop_reason="endTurn",
        )

    async with sdk_client(gw, key, sampling_callback=sample) as client:
        result = await client.call_tool("local.trigger-sampling-request", {"prompt": "hi"})
    assert not result.is_error, result
    assert "sampled by the test client" in result.content[0].text  # type: ignore[union-attr]
    assert "test-model" in result.content[0].text  # type: ignore[union-attr]
    assert len(asked) == 1 and asked[0].max_tokens == 100
    assert "hi" in asked[0].messages[0].content.text  # type: ignore[union-attr]


async def test_without_the_capability_the_upstream_gets_a_clear_error(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=1)
    async with sdk_client(gw, key) as client:  # declares no sampling
        result = await client.call_tool("local.trigger-sampling-request", {"prompt": "hi"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error, text
    assert "did not declare the 'sampling' capability" in text


async def test_a_2026_client_without_sampling_is_not_asked_and_the_upstream_hears_why(
    gw: RunningGateway,
) -> None:
    """(A 2026-07-28 client that declared it is asked with input_required rounds:
    test_mcp_federation_mrtr.py.)"""
    _, key = gw.create_account(credits=1)
    async with sdk_client(gw, key, "auto") as client:
        result = await client.call_tool("local.trigger-sampling-request", {"prompt": "hi"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error, text
    assert "did not declare the 'sampling' capability" in text


async def test_an_upstreams_elicitation_reaches_the_client_and_its_answer_goes_back(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=1)
    asked: list[str] = []

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="decline")

    async with sdk_client(gw, key, elicitation_callback=elicit) as client:
        result = await client.call_tool("local.trigger-elicitation-request", {})
    assert len(asked) == 1
    assert not result.is_error, result
    assert "declined" in result.content[0].text  # type: ignore[union-attr]
