"""A federated server's change stream that ends and is opened again: what the server changed
while no stream was open still reaches toolwire's clients (adapter `_missed`).

The upstream is tests/upstream/mcp/servers/fixture.py with its content on. Its `vanish` tool
ends the change streams, then, while it holds new ones back, adds the tool `late` and changes
`fixture://note`, saying so where nobody listens:
- 2026-07-28 over stdio: every `subscriptions/listen` stream ends (the spec's graceful close);
  the spec has no replay, so toolwire re-reads once it listens again (`Connection._listen`);
- handshake era over Streamable HTTP: the GET stream drops; the SDK client opens it again
  without `Last-Event-ID` (the server numbers no events), seen by `transport.OriginGuard`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client, IncomingMessage
from mcp.client.streamable_http import streamable_http_client

from tests.upstream.mcp.support import fixture_over, fixture_server, gateway
from toolwire.testing import RunningGateway

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

WAIT_S = 30.0
TOOLS = ["echo", "vanish", "late"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    mcp = {
        "modern": {
            **fixture_server(),
            "env": {"FIXTURE_CONTENT": "1"},
            "include": TOOLS,
        }
    }
    with gateway(tmp_path_factory.mktemp("relisten"), mcp) as running:
        yield running


class Inbox:
    """The list changes and resource updates one client received."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.seen.append((message.method, str(message.params.uri)))
        elif isinstance(
            message, types.ToolListChangedNotification | types.ResourceListChangedNotification
        ):
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


async def missed_changes_reach_a_client(
    gw: RunningGateway, upstream: str, subscribable: bool = True
) -> None:
    """`vanish`, then the client hears the tool list and (subscribed, where the upstream offers
    it) the note changed, else that the resource list may have changed."""
    note = f"toolwire://{upstream}/fixture://note"
    heard = (
        ("notifications/resources/updated", note)
        if subscribable
        else ("notifications/resources/list_changed", "")
    )
    _, key = gw.create_account(credits=1)
    inbox = Inbox()
    async with sdk_client(gw, key, message_handler=inbox) as client:
        before = {t.name for t in (await client.list_tools()).tools}
        assert f"{upstream}.late" not in before
        if subscribable:
            await client.subscribe_resource(note)  # type: ignore[deprecated]
        first = await client.read_resource(note)
        assert first.contents[0].text == "a note"  # type: ignore[union-attr]

        done = await client.call_tool(f"{upstream}.vanish", {})
        assert not done.is_error, done

        await inbox.wait_for(("notifications/tools/list_changed", ""), heard)
        after = {t.name for t in (await client.list_tools()).tools}
        again = await client.read_resource(note)
        late = await client.call_tool(f"{upstream}.late", {})
        if subscribable:
            await client.unsubscribe_resource(note)  # type: ignore[deprecated]
    assert f"{upstream}.late" in after
    assert again.contents[0].text == "a changed note"  # type: ignore[union-attr]
    assert late.content[0].text == "late here"  # type: ignore[union-attr]


async def test_changes_made_while_the_listen_stream_was_down_reach_the_clients(
    gw: RunningGateway,
) -> None:
    await missed_changes_reach_a_client(gw, "modern")


async def test_changes_made_while_the_get_stream_was_down_reach_the_clients(
    tmp_path: Path,
) -> None:
    with fixture_over("http", env={"FIXTURE_CONTENT": "1"}) as url:
        mcp = {
            "remote": {
                "url": url,
                "era": "handshake",
                "allow_private_networks": True,
                "include": TOOLS,
            }
        }
        with gateway(tmp_path / "gw", mcp) as running:
            # the SDK's MCPServer offers no resources/subscribe in the handshake era
            await missed_changes_reach_a_client(running, "remote", subscribable=False)
