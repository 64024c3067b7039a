"""A federated 2026-07-28 server's change stream that ends and is opened again: what the server
changed while no stream was open still reaches toolwire's clients
(toolwire/upstream/mcp/connection.py `_listen`, adapter `_missed`).

The upstream is tests/upstream/mcp/servers/fixture.py over stdio with its content on. Its
`vanish` tool ends every `subscriptions/listen` stream (the spec's graceful close), then, while
it holds new streams back, adds the tool `late` and changes `fixture://note`, telling only its
(empty) bus. The spec has no replay: toolwire must re-read after listening again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client, IncomingMessage
from mcp.client.streamable_http import streamable_http_client

from tests.upstream.mcp.support import fixture_server, gateway
from toolwire.testing import RunningGateway

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

NOTE = "toolwire://modern/fixture://note"
WAIT_S = 30.0


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    mcp = {
        "modern": {
            **fixture_server(),
            "env": {"FIXTURE_CONTENT": "1"},
            "include": ["echo", "vanish", "late"],
        }
    }
    with gateway(tmp_path_factory.mktemp("relisten"), mcp) as running:
        yield running


class Inbox:
    """The tool-list changes and resource updates one client received."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.seen.append((message.method, str(message.params.uri)))
        elif isinstance(message, types.ToolListChangedNotification):
            self.seen.append((message.method, ""))
        else:
            return
        self.changed.set()

    async def wait_for(self, *wanted: tuple[str, str]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not set(wanted) <= set(self.seen):
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def sdk_client(gw: RunningGateway, key: str, **callbacks: Any) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with Client(transport, mode="legacy", cache=None, **callbacks) as client:
            yield client


async def test_changes_made_while_the_listen_stream_was_down_reach_the_clients(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=1)
    inbox = Inbox()
    async with sdk_client(gw, key, message_handler=inbox) as client:
        before = {t.name for t in (await client.list_tools()).tools}
        assert "modern.late" not in before
        await client.subscribe_resource(NOTE)  # type: ignore[deprecated]
        first = await client.read_resource(NOTE)
        assert first.contents[0].text == "a note"  # type: ignore[union-attr]

        done = await client.call_tool("modern.vanish", {})
        assert not done.is_error, done

        await inbox.wait_for(
            ("notifications/tools/list_changed", ""),
            ("notifications/resources/updated", NOTE),
        )
        after = {t.name for t in (await client.list_tools()).tools}
        again = await client.read_resource(NOTE)
        late = await client.call_tool("modern.late", {})
        await client.unsubscribe_resource(NOTE)  # type: ignore[deprecated]
    assert "modern.late" in after
    assert again.contents[0].text == "a changed note"  # type: ignore[union-attr]
    assert late.content[0].text == "late here"  # type: ignore[union-attr]
