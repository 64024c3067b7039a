"""The official `a2a-sdk` client (1.x, and its 0.3 compatibility mode) drives a real toolwire:
the agent card, a message that runs a tool, a streamed long call with progress, get, list,
cancel (credits released) and resubscribe."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.client import Client
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict

from toolwire.testing import RunningGateway, start_gateway

CONFIG = {
    "builtins": {"modules": ["tests.support.door_tools"]},
    "prices": {"matrix.add": 1, "matrix.wait": 2},
}
VERSIONS = ["1.0", "0.3"]
BINDINGS = [
    pytest.param(binding, version, id=f"{binding}-{version}")
    for binding in ("JSONRPC", "HTTP+JSON")
    for version in VERSIONS
]
PROFILE = ["--profile", "conformance"]  # test_tool_with_progress: progress 0, 50, 100 of 100


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gw = start_gateway(tmp_path_factory.mktemp("a2a"), config=CONFIG, args=PROFILE)
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return gateway.create_account(credits=100, name="a2a")[1]


@pytest.fixture(scope="module")
def limited_key(gateway: RunningGateway) -> str:
    return gateway.create_account(credits=100, name="a2a-limited", scopes=["matrix.*"])[1]


def balance(gateway: RunningGateway, key: str) -> float:
    with gateway.client(key) as http:
        value: float = http.get("/api/v1/me").json()["balance"]
        return value


async def balance_becomes(gateway: RunningGateway, key: str, expected: float) -> bool:
    """Whether the balance reaches `expected` within 5 s: a cancelled task's release commits
    after the cancel is answered, and a receipt's balance may be up to 1 s old."""
    deadline = anyio.current_time() + 5
    while balance(gateway, key) != expected:
        if anyio.current_time() > deadline:
            return False
        await anyio.sleep(0.05)
    return True


@asynccontextmanager
async def a2a_client(
    gateway: RunningGateway,
    key: str,
    version: str,
    *,
    streaming: bool = False,
    binding: str = "JSONRPC",
) -> AsyncIterator[Client]:
    """The SDK's client from the gateway's card, speaking `version` (1.0 sends A2A-Version);
    `streaming`: `send_message` streams (SSE) instead of blocking."""
    headers = {"Authorization": f"Bearer {key}"}
    if version != "0.3":
        headers["A2A-Version"] = version
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        config = ClientConfig(
            httpx_client=http, streaming=streaming, supported_protocol_bindings=[binding]
        )
        factory = ClientFactory(config)
        card = await factory.create_from_url(gateway.url)  # resolves the card
        await card.close()
        served = await card_of(http, gateway.url)
        only = [
            i
            for i in served.supported_interfaces
            if (i.protocol_version, i.protocol_binding) == (version, binding)
        ]
        del served.supported_interfaces[:]
        served.supported_interfaces.extend(only)
        async with factory.create(served) as client:
            yield client


async def card_of(http: httpx.AsyncClient, url: str) -> AgentCard:
    from a2a.client.card_resolver import parse_agent_card

    reply = await http.get(url + "/.well-known/agent-card.json")
    reply.raise_for_status()
    return parse_agent_card(reply.json())


def call_message(tool: str, operation: str, payload: dict[str, Any]) -> Message:
    part = Part(media_type="application/json")
    ParseDict({"tool": tool, "operation": operation, "input": payload}, part.data)
    return Message(message_id=f"m-{id(part)}", role=Role.ROLE_USER, parts=[part])


async def last_task(stream: AsyncIterator[StreamResponse]) -> tuple[Task, list[StreamResponse]]:
    events = [event async for event in stream]
    tasks = [e.task for e in events if e.HasField("task")]
    assert tasks, events
    return tasks[-1], events


CARD = "/.well-known/agent-card.json"


def test_the_card_has_an_etag_per_visible_catalog_and_answers_304_when_unchanged(
    gateway: RunningGateway, key: str, limited_key: str
) -> None:
    with gateway.client(key) as http:
        first = http.get(CARD)
        etag = first.headers["etag"]
        again = http.get(CARD, headers={"If-None-Match": etag})
        weak = http.get(CARD, headers={"If-None-Match": f'"other", W/{etag}'})
        stale = http.get(CARD, headers={"If-None-Match": '"stale"'})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert weak.status_code == 304
    assert (stale.status_code, stale.content) == (200, first.content)
    with gateway.client(limited_key) as http:
        theirs = http.get(CARD).headers["etag"]
    anonymous = httpx.get(gateway.url + CARD).headers["etag"]
    assert len({etag, theirs, anonymous}) == 3  # the card lists each key's own tools
    with gateway.client(key) as http:  # another key's tag does not validate this key's card
        assert http.get(CARD, headers={"If-None-Match": theirs}).status_code == 200


def test_the_card_lists_the_keys_tools_and_the_anonymous_card_only_discovery(
    gateway: RunningGateway, limited_key: str
) -> None:
    with gateway.client(limited_key) as http:
        mine = http.get("/.well-known/agent-card.json").json()
    anonymous = httpx.get(gateway.url + "/.well-known/agent-card.json").json()
    assert [s["id"] for s in mine["skills"]] == ["matrix"]
    assert [s["id"] for s in anonymous["skills"]] == ["discovery"]  # skills are REQUIRED
    assert "not spec-compliant" not in gateway.logs()  # the a2a-sdk's start-up check
    interfaces = [(i["protocolBinding"], i["protocolVersion"]) for i in mine["supportedInterfaces"]]
    assert interfaces == [(b, v) for b in ("JSONRPC", "HTTP+JSON") for v in ("1.0", "0.3")]
    assert mine["url"] == gateway.url + "/a2a"  # the 0.3 fields, merged
    assert mine["preferredTransport"] == "JSONRPC"


@pytest.mark.parametrize(("binding", "version"), BINDINGS)
async def test_a_message_runs_a_tool_and_the_task_carries_the_result_and_receipt(
    gateway: RunningGateway, key: str, binding: str, version: str
) -> None:
    before = balance(gateway, key)
    async with a2a_client(gateway, key, version, binding=binding) as client:
        request = SendMessageRequest(message=call_message("matrix", "add", {"a": 2, "b": 3}))
        task, _ = await last_task(client.send_message(request))
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        artifact = task.artifacts[0]
        assert MessageToDict(artifact.parts[0].data) == {"sum": 5}
        assert artifact.parts[1].text == '{"sum":5}'
        receipt = MessageToDict(task.metadata)["toolwire"]
        assert receipt["credits_charged"] == 1
        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED
    assert balance(gateway, key) == before - 1


async def test_a_text_part_names_a_call_too(gateway: RunningGateway, key: str) -> None:
    async with a2a_client(gateway, key, "1.0") as client:
        message = Message(
            message_id="m-text",
            role=Role.ROLE_USER,
            parts=[Part(text='matrix.add {"a": 1, "b": 1}')],
        )
        task, _ = await last_task(client.send_message(SendMessageRequest(message=message)))
    assert MessageToDict(task.artifacts[0].parts[0].data) == {"sum": 2}


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_message_that_names_no_call_gets_an_input_required_task(
    gateway: RunningGateway, key: str, version: str
) -> None:
    async with a2a_client(gateway, key, version) as client:
        message = Message(message_id="m-hello", role=Role.ROLE_USER, parts=[Part(text="hello!")])
        task, _ = await last_task(client.send_message(SendMessageRequest(message=message)))
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert "data part" in task.status.message.parts[0].text


@pytest.mark.parametrize(("binding", "version"), BINDINGS)
async def test_cancelling_a_running_task_stops_the_call_and_releases_its_credits(
    gateway: RunningGateway, key: str, binding: str, version: str
) -> None:
    before = balance(gateway, key)
    async with a2a_client(gateway, key, version, binding=binding) as client:
        request = SendMessageRequest(
            message=call_message("matrix", "wait", {"seconds": 20}),
            configuration=SendMessageConfiguration(return_immediately=True),
        )
        with anyio.fail_after(10):
            task, _ = await last_task(client.send_message(request))
            assert task.status.state in (
                TaskState.TASK_STATE_SUBMITTED,
                TaskState.TASK_STATE_WORKING,
            )
            cancelled = await client.cancel_task(CancelTaskRequest(id=task.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_CANCELED
    assert await balance_becomes(gateway, key, before)


@pytest.mark.parametrize(("binding", "version"), BINDINGS)
async def test_a_streamed_call_reports_progress_as_status_updates_then_the_artifact(
    gateway: RunningGateway, key: str, binding: str, version: str
) -> None:
    async with a2a_client(gateway, key, version, streaming=True, binding=binding) as client:
        message = Message(
            message_id="m-progress",
            role=Role.ROLE_USER,
            parts=[Part(text="test_tool_with_progress")],
        )
        with anyio.fail_after(10):
            events = [e async for e in client.send_message(SendMessageRequest(message=message))]
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task"
    progress = [
        MessageToDict(e.status_update.metadata)["toolwire.progress"]["progress"]
        for e in events
        if e.HasField("status_update") and "toolwire.progress" in e.status_update.metadata
    ]
    assert progress == [0, 50, 100]
    artifacts = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")]
    assert len(artifacts) == 1 and artifacts[0].parts[1].text
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


@pytest.mark.parametrize("version", VERSIONS)
async def test_resubscribing_to_a_running_task_gets_the_task_then_its_end(
    gateway: RunningGateway, key: str, version: str
) -> None:
    async with a2a_client(gateway, key, version) as client:
        request = SendMessageRequest(
            message=call_message("matrix", "wait", {"seconds": 1}),
            configuration=SendMessageConfiguration(return_immediately=True),
        )
        task, _ = await last_task(client.send_message(request))
    async with a2a_client(gateway, key, version, streaming=True) as client:
        with anyio.fail_after(10):
            events = [e async for e in client.subscribe(SubscribeToTaskRequest(id=task.id))]
    assert events[0].task.id == task.id
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_list_tasks_returns_the_callers_tasks_only(
    gateway: RunningGateway, key: str, limited_key: str
) -> None:
    async with a2a_client(gateway, key, "1.0") as client:
        request = SendMessageRequest(message=call_message("matrix", "add", {"a": 1, "b": 2}))
        task, _ = await last_task(client.send_message(request))
        listed = await client.list_tasks(ListTasksRequest())
        assert task.id in [t.id for t in listed.tasks]
    async with a2a_client(gateway, limited_key, "1.0") as other:
        theirs = await other.list_tasks(ListTasksRequest())
    assert task.id not in [t.id for t in theirs.tasks]
