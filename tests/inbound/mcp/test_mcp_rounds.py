"""Parking a 2026-07-28 tool call between `input_required` rounds (`toolwire.inbound.mcp.rounds`),
in process: the edges the end-to-end tests (tests/upstream/mcp/test_mcp_federation_mrtr.py)
cannot time exactly."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from toolwire.core.model import Principal, ToolCall
from toolwire.core.ports import ClientRequestError
from toolwire.core.scopes import ScopeSet
from toolwire.inbound.mcp.handlers import CallChannel, Context
from toolwire.inbound.mcp.jsonrpc import RpcError
from toolwire.inbound.mcp.round_state import RoundSealer
from toolwire.inbound.mcp.rounds import Rounds

ALICE = Principal(key_id="k", account_id="a", scopes=ScopeSet(("*",)))
PARAMS = {"name": "ask.confirm", "arguments": {}}
ANSWER = {"action": "accept"}


def context(capabilities: dict[str, Any] | None = None) -> Context:
    caps = {"elicitation": {}} if capabilities is None else capabilities
    return Context(ALICE, "2026-07-28", "modern", "req", client_capabilities=caps)


def tool_call() -> ToolCall:
    return ToolCall("ask", {}, "req", operation="confirm", door="mcp")


def rounds(input_timeout: float = 60) -> Rounds:
    return Rounds(RoundSealer(os.urandom(32)), CallChannel, input_timeout=input_timeout)


def retry(first: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    return {**PARAMS, "inputResponses": answers, "requestState": first["requestState"]}


async def test_requests_made_together_are_one_round() -> None:
    async def two_at_once(ctx: Context, call: ToolCall) -> dict[str, Any]:
        assert call.channel is not None
        ask = call.channel.request
        a, b = await asyncio.gather(ask("elicitation/create", {}), ask("roots/list", {}))
        return {"got": [a, b]}

    parked = rounds()
    ctx = context({"elicitation": {}, "roots": {}})
    first = await parked.call(ctx, tool_call(), PARAMS, two_at_once)
    assert sorted(r["method"] for r in first["inputRequests"].values()) == [
        "elicitation/create",
        "roots/list",
    ]
    answers = {key: {"n": key} for key in first["inputRequests"]}
    done = await parked.call(ctx, tool_call(), retry(first, answers), two_at_once)
    assert done == {"got": [{"n": "r1"}, {"n": "r2"}]}
    assert parked.parked == 0


async def test_two_retries_with_one_state_race_and_one_loses() -> None:
    release = asyncio.Event()

    async def ask_then_wait(ctx: Context, call: ToolCall) -> dict[str, Any]:
        assert call.channel is not None
        await call.channel.request("elicitation/create", {})
        await release.wait()
        return {"done": True}

    parked = rounds()
    first = await parked.call(context(), tool_call(), PARAMS, ask_then_wait)
    again = retry(first, {"r1": ANSWER})
    winner = asyncio.ensure_future(parked.call(context(), tool_call(), again, ask_then_wait))
    await asyncio.sleep(0)
    with pytest.raises(RpcError, match="already answered"):
        await parked.call(context(), tool_call(), again, ask_then_wait)
    release.set()
    assert await winner == {"done": True}


async def test_an_abandoned_call_is_cancelled_with_the_reason_and_its_request_fails() -> None:
    seen: list[BaseException] = []

    async def ask(ctx: Context, call: ToolCall) -> dict[str, Any]:
        assert call.channel is not None
        try:
            await call.channel.request("elicitation/create", {})
        except BaseException as exc:
            seen.append(exc)
            raise
        return {}

    parked = rounds(input_timeout=0.05)
    first = await parked.call(context(), tool_call(), PARAMS, ask)
    await asyncio.sleep(0.2)
    assert parked.parked == 0
    assert isinstance(seen[0], asyncio.CancelledError)
    assert seen[0].args == ("the client did not answer input_required within 0.05s",)
    with pytest.raises(RpcError, match="has expired"):  # its state expired with it
        await parked.call(context(), tool_call(), retry(first, {"r1": ANSWER}), ask)


async def test_a_client_without_the_capabilities_is_never_parked() -> None:
    async def ask(ctx: Context, call: ToolCall) -> dict[str, Any]:
        assert call.channel is None  # the door's own channel, untouched (none here)
        return {"ran": "directly"}

    assert await rounds().call(context({}), tool_call(), PARAMS, ask) == {"ran": "directly"}


async def test_a_request_for_an_undeclared_capability_fails_at_once() -> None:
    async def sample(ctx: Context, call: ToolCall) -> dict[str, Any]:
        assert call.channel is not None
        try:
            await call.channel.request("sampling/createMessage", {})
        except ClientRequestError as exc:
            return {"refused": exc.message}
        return {}

    done = await rounds().call(context(), tool_call(), PARAMS, sample)
    assert done == {
        "refused": "sampling/createMessage: the client did not declare the 'sampling' capability"
    }
