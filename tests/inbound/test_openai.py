"""The OpenAI tool_calls door's idempotency keys (docs/design/openai-tool-call-idempotency.md):
a resent assistant message is charged once, keyed by the `Idempotency-Key` header per tool call,
or by a tool call id that names a call; two callers' ids never meet; a short numbered id is no
key. Through a real gateway, with a priced tool."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolwire.testing import RunningGateway, running_gateway

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"builtins": {"modules": ["tests.support.door_tools"]}, "prices": {"matrix.add": 1}}
PATH = "/api/v1/openai/tool_calls"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path_factory.mktemp("openai"), config=CONFIG, env={"PYTHONPATH": str(REPO)}
    ) as gw:
        yield gw


def tool_call(call_id: str, a: int) -> dict[str, Any]:
    arguments = f'{{"a": {a}, "b": 1}}'
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "matrix__add", "arguments": arguments},
    }


def run(http: httpx.Client, calls: list[dict[str, Any]], header: str | None = None) -> Any:
    headers = {"Idempotency-Key": header} if header else {}
    reply = http.post(PATH, json={"tool_calls": calls}, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()["results"]


def balance(http: httpx.Client) -> float:
    return float(http.get("/api/v1/me").json()["balance"])


def test_a_resent_message_is_charged_once_by_its_tool_call_id(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=10)
    call = tool_call(f"call_{uuid.uuid4().hex}", 2)
    with gateway.client(key) as http:
        first = run(http, [call])
        again = run(http, [call])
        assert balance(http) == 9
    assert first[0]["ok"] and again[0]["ok"]
    assert again[0]["meta"].get("replayed") is True
    assert again[0]["meta"]["request_id"] == first[0]["meta"]["request_id"]


def test_two_callers_with_the_same_tool_call_id_each_run(gateway: RunningGateway) -> None:
    call = tool_call(f"call_{uuid.uuid4().hex}", 3)
    for _ in range(2):
        _, key = gateway.create_account(credits=10)
        with gateway.client(key) as http:
            results = run(http, [call])
            assert results[0]["ok"] and "replayed" not in results[0]["meta"]
            assert balance(http) == 9


def test_a_short_numbered_id_is_not_a_key(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=10)
    with gateway.client(key) as http:
        run(http, [tool_call("call_0", 4)])
        results = run(http, [tool_call("call_0", 5)])  # another call, the same short id
        assert results[0]["ok"], results
        assert balance(http) == 8


def test_with_a_header_each_call_of_a_request_gets_its_own_key(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=10)
    calls = [tool_call("call_0", 6), tool_call("call_1", 7)]
    header = uuid.uuid4().hex
    with gateway.client(key) as http:
        first = run(http, calls, header)
        again = run(http, calls, header)
        assert balance(http) == 8
    assert [r["ok"] for r in first] == [True, True]
    assert [r["meta"].get("replayed") for r in again] == [True, True]
