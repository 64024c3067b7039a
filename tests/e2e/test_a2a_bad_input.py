"""Bad input at the A2A door, on the wire (httpx, JSON-RPC): each gets the spec's own error
(A2A 1.0 §4.6, JSON-RPC 2.0 §5.1), never a 500 and never a hang."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from toolwire.core.errors import PayloadTooLarge, ToolwireError, Unauthenticated
from toolwire.inbound.a2a import messages
from toolwire.inbound.http import row_for
from toolwire.testing import RunningGateway, start_gateway

CONFIG = {"builtins": {"modules": ["tests.support.door_tools"]}, "prices": {"matrix.add": 1}}
V1 = {"A2A-Version": "1.0"}
TASK_NOT_FOUND, TASK_NOT_CANCELABLE, VERSION_NOT_SUPPORTED = -32001, -32002, -32009


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gw = start_gateway(
            tmp_path_factory.mktemp("a2a-bad"),
            config=CONFIG,
            env={"TOOLWIRE_MAX_BODY_BYTES": "4096"},
        )
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return gateway.create_account(credits=100, name="a2a-bad")[1]


def rpc(
    gateway: RunningGateway,
    key: str | None,
    method: str,
    params: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return httpx.post(
        gateway.url + "/a2a", json=body, headers={**sent, **(headers or {})}, timeout=10
    )


def send(gateway: RunningGateway, key: str, text: str) -> dict[str, Any]:
    message = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}]}
    reply = rpc(gateway, key, "SendMessage", {"message": message}, V1)
    assert reply.status_code == 200, reply.text
    task: dict[str, Any] = reply.json()["result"]["task"]
    return task


def admission_status(error: type[ToolwireError]) -> int:
    return int(row_for(messages.ADMISSION, error).status)


def error_code(reply: httpx.Response) -> int:
    code: int = reply.json()["error"]["code"]
    return code


def test_a_request_without_a_key_is_401_with_a_challenge(gateway: RunningGateway) -> None:
    reply = rpc(gateway, None, "GetTask", {"id": "x"}, V1)
    assert reply.status_code == admission_status(Unauthenticated)
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert reply.json()["error"]["data"]["code"] == "UNAUTHENTICATED"


def test_an_enormous_message_is_413_before_it_is_read(gateway: RunningGateway, key: str) -> None:
    reply = rpc(gateway, key, "SendMessage", {"message": {"parts": [{"text": "x" * 10_000}]}}, V1)
    assert reply.status_code == admission_status(PayloadTooLarge)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "NoSuchMethod", "params": {}}', -32601),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tasks/nope", "params": {}}', -32601),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": 5}}', -32602),
    ],
    ids=["parse", "not-an-object", "unknown-1.0-method", "unknown-0.3-method", "bad-params"],
)
def test_malformed_requests_get_the_json_rpc_error(
    gateway: RunningGateway, key: str, body: bytes, code: int
) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **V1}
    reply = httpx.post(gateway.url + "/a2a", content=body, headers=headers, timeout=10)
    assert reply.status_code < 500
    assert error_code(reply) == code


@pytest.mark.parametrize("version", ["1.0", "0.3"])
def test_an_unknown_task_id_is_task_not_found(
    gateway: RunningGateway, key: str, version: str
) -> None:
    method, headers = ("GetTask", V1) if version == "1.0" else ("tasks/get", {})
    assert error_code(rpc(gateway, key, method, {"id": "no-such-task"}, headers)) == TASK_NOT_FOUND


def test_another_keys_task_is_not_found_exactly_like_an_unknown_one(
    gateway: RunningGateway, key: str
) -> None:
    task = send(gateway, key, 'matrix.add {"a": 1, "b": 2}')
    other = gateway.create_account(credits=1, name="other")[1]
    for method in ("GetTask", "CancelTask", "SubscribeToTask"):
        theirs = rpc(gateway, other, method, {"id": task["id"]}, V1)
        unknown = rpc(gateway, other, method, {"id": "no-such-task"}, V1)
        assert error_code(theirs) == error_code(unknown) == TASK_NOT_FOUND


def test_cancelling_a_finished_task_is_not_cancelable(gateway: RunningGateway, key: str) -> None:
    task = send(gateway, key, 'matrix.add {"a": 1, "b": 2}')
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    reply = rpc(gateway, key, "CancelTask", {"id": task["id"]}, V1)
    assert error_code(reply) == TASK_NOT_CANCELABLE


def test_an_unsupported_version_is_version_not_supported(gateway: RunningGateway, key: str) -> None:
    reply = rpc(gateway, key, "GetTask", {"id": "x"}, {"A2A-Version": "9.9"})
    assert error_code(reply) == VERSION_NOT_SUPPORTED


@pytest.mark.parametrize(
    "part",
    [
        {"url": "https://example.com/a.pdf", "mediaType": "application/pdf"},
        {"raw": "aGVsbG8=", "mediaType": "application/octet-stream"},
        {"data": {"no": "tool"}},
        {"data": [1, 2]},
        {"text": "matrix.add {not json"},
    ],
    ids=["url", "raw", "data-without-tool", "data-not-an-object", "text-bad-json"],
)
def test_a_part_that_names_no_call_gets_an_input_required_task_explaining_the_forms(
    gateway: RunningGateway, key: str, part: dict[str, Any]
) -> None:
    message = {"messageId": "m2", "role": "ROLE_USER", "parts": [part]}
    reply = rpc(gateway, key, "SendMessage", {"message": message}, V1)
    task = reply.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert task["metadata"]["toolwire.error"]["code"] == "INVALID_REQUEST"


def test_a_failed_call_is_a_failed_task_carrying_the_error_code(
    gateway: RunningGateway, key: str
) -> None:
    task = send(gateway, key, 'matrix.add {"a": "one"}')
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["metadata"]["toolwire.error"]["code"] == "INVALID_ARGUMENTS"
    assert task["status"]["message"]["parts"][0]["text"].startswith("INVALID_ARGUMENTS")


@pytest.mark.parametrize("path", ["/a2a/tasks/no-such-task", "/a2a/v1/tasks/no-such-task"])
def test_the_http_json_binding_answers_an_unknown_task_404_and_no_key_401(
    gateway: RunningGateway, key: str, path: str
) -> None:
    headers = {"Authorization": f"Bearer {key}", **(V1 if "/v1/" not in path else {})}
    assert httpx.get(gateway.url + path, headers=headers, timeout=10).status_code == 404
    refused = httpx.get(gateway.url + path, timeout=10)
    assert refused.status_code == admission_status(Unauthenticated)
