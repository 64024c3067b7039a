"""Resource subscriptions and completions of `@modelcontextprotocol/server-everything` (npm,
unmodified, stdio) through toolwire, driven by the official `mcp` SDK client.

server-everything sends `notifications/resources/updated` for its subscribed URIs once its
`toggle-subscriber-updates` tool is called (then every 5 s); toolwire subscribes upstream once
and relays each update, namespaced, to exactly the client sessions that subscribed."""

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
from mcp.shared.exceptions import MCPError

from tests.upstream.mcp.support import gateway, npm_servers
from toolwire.testing import RunningGateway

pytestmark = [
    pytest.mark.timeout(240),
    # resources/subscribe is the handshake era's way (2026-07-28 has subscriptions/listen)
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

DOCUMENT = "toolwire://local/demo://resource/static/document/architecture.md"
UPDATE_EVERY_S = 5.0
"""server-everything's pace of simulated updates."""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    bin_dir = npm_servers()
    mcp = {"local": {"command": str(bin_dir / "mcp-server-everything"), "args": ["stdio"]}}
    with gateway(tmp_path_factory.mktemp("subscribe"), mcp) as running:
        yield running


class Inbox:
    """The `notifications/resources/updated` one client received."""

    def __init__(self) -> None:
        self.updated: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.updated.append(str(message.params.uri))
            self.arrived.set()


@asynccontextmanager
async def sdk_client(gw: RunningGateway, key: str, **callbacks: Any) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with Client(transport, mode="legacy", cache=None, **callbacks) as client:
            yield client


async def test_updates_reach_exactly_the_subscribed_session_until_it_unsubscribes(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=1)
    subscribed, bystander = Inbox(), Inbox()
    async with (
        sdk_client(gw, key, message_handler=subscribed) as a,
        sdk_client(gw, key, message_handler=bystander) as b,
    ):
        listed = {str(r.uri) for r in (await a.list_resources()).resources}
        assert DOCUMENT in listed
        await a.subscribe_resource(DOCUMENT)  # type: ignore[deprecated]
        started = await b.call_tool("local.toggle-subscriber-updates", {})
        assert not started.is_error, started
        try:
            async with asyncio.timeout(UPDATE_EVERY_S * 3):
                await subscribed.arrived.wait()
            await asyncio.sleep(0.5)  # the bystander's stream would have it by now
            assert subscribed.updated[0] == DOCUMENT
            assert bystander.updated == []
            await a.unsubscribe_resource(DOCUMENT)  # type: ignore[deprecated]
            seen = len(subscribed.updated)
            await asyncio.sleep(UPDATE_EVERY_S + 1.5)
            assert len(subscribed.updated) == seen, "an update after unsubscribing"
        finally:
            await b.call_tool("local.toggle-subscriber-updates", {})  # stop them upstream


async def test_subscribing_is_scoped_like_reading_and_unknown_uris_are_refused(
    gw: RunningGateway,
) -> None:
    _, narrow = gw.create_account(credits=1, scopes=["local.echo"])
    _, full = gw.create_account(credits=1)
    async with sdk_client(gw, narrow) as client:
        with pytest.raises(MCPError) as denied:
            await client.subscribe_resource(DOCUMENT)  # type: ignore[deprecated]
    async with sdk_client(gw, full) as client:
        with pytest.raises(MCPError) as unknown:
            await client.subscribe_resource("toolwire://nowhere/x://y")  # type: ignore[deprecated]
        with pytest.raises(MCPError) as foreign:
            await client.subscribe_resource("demo://resource/static/document/a.md")  # type: ignore[deprecated]
    assert denied.value.error.code == -32002  # exactly as an unknown resource
    assert unknown.value.error.code == -32002
    assert foreign.value.error.code == -32002


def test_subscriptions_are_audited(gw: RunningGateway) -> None:
    account_id, key = gw.create_account(credits=1)

    async def go() -> list[dict[str, Any]]:
        async with sdk_client(gw, key) as client:
            await client.subscribe_resource(DOCUMENT)  # type: ignore[deprecated]
            await client.unsubscribe_resource(DOCUMENT)  # type: ignore[deprecated]
        with gw.admin() as admin:
            async with asyncio.timeout(15):  # audit events are written in batches
                while True:
                    rows = admin.get("/admin/v1/audit", params={"account_id": account_id}).json()
                    if len(rows["records"]) >= 2:
                        return list(rows["records"])
                    await asyncio.sleep(0.1)

    events = asyncio.run(go())
    operations = sorted(str(e["operation"]) for e in events)
    assert operations == ["resources/subscribe", "resources/unsubscribe"]
    assert all(e["tool"] == "local" and e["credits_charged"] == 0 for e in events)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_completions_pass_through_for_prompts_and_resource_templates(
    gw: RunningGateway, mode: str
) -> None:
    _, key = gw.create_account(credits=1)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            departments = await client.complete(
                types.PromptReference(name="local.completable-prompt"),
                {"name": "department", "value": "S"},
            )
            people = await client.complete(
                types.PromptReference(name="local.completable-prompt"),
                {"name": "name", "value": ""},
                {"department": "Engineering"},
            )
            template = next(
                t.uri_template
                for t in (await client.list_resource_templates()).resource_templates
                if "/dynamic/text/" in t.uri_template
            )
            ids = await client.complete(
                types.ResourceTemplateReference(uri=template),
                {"name": "resourceId", "value": "1"},
            )
            with pytest.raises(MCPError) as unknown:
                await client.complete(
                    types.PromptReference(name="nowhere.completable-prompt"),
                    {"name": "department", "value": ""},
                )
    assert departments.completion.values == ["Sales", "Support"]
    assert people.completion.values == ["Alice", "Bob", "Charlie"]
    assert ids.completion.values and all(v.startswith("1") for v in ids.completion.values)
    assert unknown.value.error.code == -32602


async def test_a_key_without_prompt_scopes_gets_no_completions(gw: RunningGateway) -> None:
    _, narrow = gw.create_account(credits=1, scopes=["local.resources"])
    async with sdk_client(gw, narrow) as client:
        with pytest.raises(MCPError) as denied:
            await client.complete(
                types.PromptReference(name="local.completable-prompt"),
                {"name": "department", "value": ""},
            )
    assert denied.value.error.code == -32602


async def test_a_2026_client_subscribes_with_subscriptions_listen(gw: RunningGateway) -> None:
    """2026-07-28 has no resources/subscribe: `subscriptions/listen` names the URIs, toolwire
    honours those the key may read (and says so in the acknowledgement), and relays updates."""
    from mcp.shared.subscriptions import ResourceUpdated

    _, key = gw.create_account(credits=1)
    headers = {"Authorization": f"Bearer {key}"}
    unknown = "toolwire://nowhere/x://y"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        sdk_client(gw, key) as driver,
    ):
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with (
            Client(transport, mode="auto", cache=None) as client,
            client.listen(resource_subscriptions=[DOCUMENT, unknown]) as sub,
        ):
            honoured = list(sub.honored.resource_subscriptions or [])
            await driver.call_tool("local.toggle-subscriber-updates", {})
            try:
                async with asyncio.timeout(UPDATE_EVERY_S * 3):
                    event = await sub.__anext__()
            finally:
                await driver.call_tool("local.toggle-subscriber-updates", {})
    assert honoured == [DOCUMENT]
    assert isinstance(event, ResourceUpdated) and event.uri == DOCUMENT


async def test_a_legacy_http_sse_session_gets_its_updates(gw: RunningGateway) -> None:
    from mcp.client.sse import sse_client

    _, key = gw.create_account(credits=1)
    inbox = Inbox()
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        Client(
            sse_client(f"{gw.url}/sse", headers=auth),
            mode="legacy",
            cache=None,
            message_handler=inbox,
        ) as client,
        sdk_client(gw, key) as driver,
    ):
        await client.subscribe_resource(DOCUMENT)  # type: ignore[deprecated]
        await driver.call_tool("local.toggle-subscriber-updates", {})
        try:
            async with asyncio.timeout(UPDATE_EVERY_S * 3):
                await inbox.arrived.wait()
        finally:
            await driver.call_tool("local.toggle-subscriber-updates", {})
            await client.unsubscribe_resource(DOCUMENT)  # type: ignore[deprecated]
    assert inbox.updated[0] == DOCUMENT


async def test_a_stdio_local_client_gets_its_updates(gw: RunningGateway) -> None:
    """`toolwire stdio --local` (its own gateway and its own server-everything process):
    the update reaches the stdio client on stdout."""
    import os

    from mcp.client.stdio import StdioServerParameters

    from toolwire.testing import TOOLWIRE

    _, key = gw.create_account(credits=1)
    config = gw.data_dir / "toolwire.yaml"
    args = ["stdio", "--local", "--data-dir", str(gw.data_dir), "--config", str(config)]
    env = {**os.environ, "TOOLWIRE_API_KEY": key, "TOOLWIRE_LOG_LEVEL": "warning"}
    inbox = Inbox()
    params = StdioServerParameters(command=TOOLWIRE, args=args, env=env)
    async with (
        asyncio.timeout(90),
        Client(params, mode="legacy", cache=None, message_handler=inbox) as client,
    ):
        listed: set[str] = set()
        while DOCUMENT not in listed:  # its own upstream may still be starting
            listed = {str(r.uri) for r in (await client.list_resources()).resources}
            await asyncio.sleep(0 if DOCUMENT in listed else 0.2)
        await client.subscribe_resource(DOCUMENT)  # type: ignore[deprecated]
        await client.call_tool("local.toggle-subscriber-updates", {})
        await inbox.arrived.wait()
        await client.call_tool("local.toggle-subscriber-updates", {})
    assert inbox.updated[0] == DOCUMENT
