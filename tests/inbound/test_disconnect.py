"""A client that goes away mid-call cancels it: over the REST door and the OpenAI tool_calls door,
a priced slow call whose client disconnects is released, never charged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.books import eventually
from toolwire.testing import RunningGateway, running_gateway

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"builtins": {"modules": ["tests.support.tools"]}, "prices": {"slow": 1}}
SLOW = {"seconds": 30}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path_factory.mktemp("disconnect"), config=CONFIG, env={"PYTHONPATH": str(REPO)}
    ) as gw:
        yield gw


REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "rest": ("/api/v1/execute", {"tool": "slow.sleep", "input": SLOW}),
    "openai": (
        "/api/v1/openai/tool_calls",
        {
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "slow__sleep", "arguments": '{"seconds": 30}'},
                }
            ]
        },
    ),
}


@pytest.mark.parametrize("door", sorted(REQUESTS))
async def test_a_client_that_disconnects_mid_call_is_not_charged(
    gateway: RunningGateway, door: str
) -> None:
    _, key = gateway.create_account(credits=10)
    path, body = REQUESTS[door]
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=60) as http:

        async def balance_is(value: float) -> bool:
            return float((await http.get("/api/v1/me")).json()["balance"]) == value

        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=60) as caller:
            call = asyncio.create_task(caller.post(path, json=body))
            await eventually(lambda: balance_is(9))  # the call holds its reservation
            call.cancel()  # closes the connection: the client is gone
            with pytest.raises(asyncio.CancelledError):
                await call

        await eventually(lambda: balance_is(10))  # released long before the 30 s sleep ends
