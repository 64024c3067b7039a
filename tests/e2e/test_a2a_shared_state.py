"""Two gateways sharing Redis (and the database): an A2A task started on one is read and
cancelled on the other, and the cancel stops the call where it runs, releasing its credits; a
task started on one is followed live from the other (task events through Redis pub/sub)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import anyio
import httpx
import pytest
from a2a.types.a2a_pb2 import (
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskState,
)

from tests.e2e.test_a2a_sdk_client import a2a_client, call_message, last_task
from tests.support.cluster import gateway_pair
from toolwire.testing import RunningGateway

CONFIG = {"builtins": {"modules": ["tests.support.door_tools"]}, "prices": {"matrix.wait": 2}}
V1 = {"A2A-Version": "1.0"}


def rpc(gateway: RunningGateway, key: str, method: str, params: object) -> dict[str, object]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    headers = {"Authorization": f"Bearer {key}", **V1}
    reply = httpx.post(gateway.url + "/a2a", json=body, headers=headers, timeout=10)
    result: dict[str, object] = reply.json()["result"]
    return result


def balance(gateway: RunningGateway, key: str) -> float:
    with gateway.client(key) as http:
        value: float = http.get("/api/v1/me").json()["balance"]
        return value


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, ...]]:
    """Two gateways over one database and one Redis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with gateway_pair(tmp_path_factory.mktemp("a2a-shared"), CONFIG) as both:
            yield both


def test_a_task_started_on_one_gateway_is_read_and_cancelled_on_another(
    pair: tuple[RunningGateway, ...],
) -> None:
    a, b = pair
    _, key = a.create_account(credits=20, name="shared")
    message = {
        "messageId": "m1",
        "role": "ROLE_USER",
        "parts": [{"data": {"tool": "matrix", "operation": "wait", "input": {"seconds": 20}}}],
    }
    params = {"message": message, "configuration": {"returnImmediately": True}}
    started = rpc(a, key, "SendMessage", params)["task"]
    assert isinstance(started, dict)
    task_id = started["id"]
    on_b = rpc(b, key, "GetTask", {"id": task_id})
    assert on_b["status"]["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")  # type: ignore[index]
    cancelled = rpc(b, key, "CancelTask", {"id": task_id})
    assert cancelled["status"]["state"] == "TASK_STATE_CANCELED"  # type: ignore[index]
    # The reservation is released in gateway a's process: no event crosses to here, so poll.
    deadline = time.monotonic() + 10
    while balance(a, key) != 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert balance(a, key) == 20
    on_a = rpc(a, key, "GetTask", {"id": task_id})
    assert on_a["status"]["state"] == "TASK_STATE_CANCELED"  # type: ignore[index]


async def test_a_task_started_on_one_gateway_is_followed_live_on_another(
    pair: tuple[RunningGateway, ...],
) -> None:
    a, b = pair
    _, key = a.create_account(credits=20, name="follower")
    async with a2a_client(a, key, "1.0") as client:
        request = SendMessageRequest(
            message=call_message("matrix", "wait", {"seconds": 1.5}),
            configuration=SendMessageConfiguration(return_immediately=True),
        )
        task, _ = await last_task(client.send_message(request))
    assert task.status.state != TaskState.TASK_STATE_COMPLETED  # still running on a
    async with a2a_client(b, key, "1.0", streaming=True) as client:
        with anyio.fail_after(15):
            events = [e async for e in client.subscribe(SubscribeToTaskRequest(id=task.id))]
    assert events[0].task.id == task.id
    artifacts = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")]
    assert len(artifacts) == 1  # the result, streamed from a through Redis
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
