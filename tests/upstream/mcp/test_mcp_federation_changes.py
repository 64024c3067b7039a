"""Resource and prompt list changes, and resource updates, of federated servers of both eras,
through toolwire to official `mcp` SDK clients of both eras.

Two real upstreams run tests/upstream/mcp/servers/fixture.py (the SDK's MCPServer, stdio) with
its content on: `modern` negotiates 2026-07-28 (its changes arrive on the `subscriptions/listen`
stream toolwire keeps open, and toolwire subscribes to its resources there), `legacy` is held to
the handshake (its changes arrive as notifications). Its `churn` tool says that its resource and
prompt lists changed and that `fixture://note` was updated.
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
from mcp.shared.subscriptions import PromptsListChanged, ResourcesListChanged, ResourceUpdated

from tests.upstream.mcp.support import fixture_server, gateway
from toolwire.testing import RunningGateway

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

MODERN_NOTE = "toolwire://modern/fixture://note"
LEGACY_NOTE = "toolwire://legacy/fixture://note"
WAIT_S = 20.0


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    content = {"env": {"FIXTURE_CONTENT": "1"}, "include": ["echo", "churn"]}
    mcp = {
        "modern": {**fixture_server(), **content},
        "legacy": {**fixture_server(), **content, "era": "handshake"},
    }
    with gateway(tmp_path_factory.mktemp("changes"), mcp) as running:
        yield running


class Inbox:
    """The notifications one client received, by method."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.seen.append((message.method, str(message.params.uri)))
        elif isinstance(
            message, types.ResourceListChangedNotification | types.PromptListChangedNotification
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
async def sdk_client(
    gw: RunningGateway, key: str, mode: str = "legacy", **callbacks: Any
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with Client(transport, mode=mode, cache=None, **callbacks) as client:
            yield client


RESOURCES = ("notifications/resources/list_changed", "")
PROMPTS = ("notifications/prompts/list_changed", "")


@pytest.mark.parametrize("upstream", ["modern", "legacy"])
async def test_list_changes_of_either_eras_upstream_reach_a_handshake_client(
    gw: RunningGateway, upstream: str
) -> None:
    _, key = gw.create_account(credits=1)
    inbox = Inbox()
    async with sdk_client(gw, key, message_handler=inbox) as client:
        capabilities = client.server_capabilities
        assert capabilities.resources is not None and capabilities.resources.list_changed
        assert capabilities.prompts is not None and capabilities.prompts.list_changed
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert f"{upstream}.greet" in prompts
        done = await client.call_tool(f"{upstream}.churn", {})
        assert not done.is_error, done
        await inbox.wait_for(RESOURCES, PROMPTS)


async def test_a_2026_upstreams_updates_reach_the_subscribed_handshake_session_only(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=1)
    subscribed, bystander = Inbox(), Inbox()
    updated = ("notifications/resources/updated", MODERN_NOTE)
    async with (
        sdk_client(gw, key, message_handler=subscribed) as a,
        sdk_client(gw, key, message_handler=bystander) as b,
    ):
        listed = {str(r.uri) for r in (await a.list_resources()).resources}
        assert {MODERN_NOTE, LEGACY_NOTE} <= listed
        await a.subscribe_resource(MODERN_NOTE)  # type: ignore[deprecated]
        await b.call_tool("modern.churn", {})
        await subscribed.wait_for(updated)
        await bystander.wait_for(RESOURCES)  # the list change reaches every session
        assert updated not in bystander.seen
        await a.unsubscribe_resource(MODERN_NOTE)  # type: ignore[deprecated]


async def test_a_2026_client_listens_for_list_changes_and_a_2026_upstreams_updates(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=1)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        sdk_client(gw, key) as driver,
    ):
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with (
            Client(transport, mode="auto", cache=None) as client,
            client.listen(
                resources_list_changed=True,
                prompts_list_changed=True,
                resource_subscriptions=[MODERN_NOTE],
            ) as sub,
        ):
            assert sub.honored.resources_list_changed and sub.honored.prompts_list_changed
            assert list(sub.honored.resource_subscriptions or []) == [MODERN_NOTE]
            await driver.call_tool("modern.churn", {})
            events: set[Any] = set()
            wanted = {ResourcesListChanged(), PromptsListChanged(), ResourceUpdated(MODERN_NOTE)}
            async with asyncio.timeout(WAIT_S):
                while not wanted <= events:
                    events.add(await anext(sub))


async def test_a_flood_of_list_changes_is_throttled(gw: RunningGateway) -> None:
    """Ten churns at once from two upstreams: clients get a few list changes, not twenty."""
    _, key = gw.create_account(credits=1)
    inbox = Inbox()
    async with sdk_client(gw, key, message_handler=inbox) as client:
        await asyncio.gather(
            *(client.call_tool(f"{u}.churn", {}) for u in ("modern", "legacy") for _ in range(5))
        )
        await inbox.wait_for(RESOURCES, PROMPTS)
        await asyncio.sleep(1.0)  # a trailing announcement comes 0.2 s after the first
    counts = {m: sum(1 for seen, _ in inbox.seen if seen == m) for m, _ in (RESOURCES, PROMPTS)}
    assert all(1 <= n <= 5 for n in counts.values()), counts  # ten each unthrottled
