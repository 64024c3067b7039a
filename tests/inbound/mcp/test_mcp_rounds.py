"""Parking a 2026-07-28 tool call between `input_required` rounds (`toolwire.inbound.mcp.rounds`),
in process: the edges the end-to-end tests (tests/upstream/mcp/test_mcp_federation_mrtr.py)
cannot time exactly."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from toolwire.core.model import Principal
from toolwire.core.ports import Channel, ClientRequestError
from toolwire.core.scopes import ScopeSet
from toolwire.inbound.mcp.handlers import CallChannel, Context
from toolwire.inbound.mcp.jsonrpc import RpcError
from toolwire.inbound.mcp.round_state import RoundSealer, Subject
from toolwire.inbound.mcp.rounds import Rounds, Run

ALICE = Principal(key_id="k", account_id="a", scopes=ScopeSet(("*",)))
PARAMS = {"name": "ask.confirm", "arguments": {}}
ANSWER = {"action": "accept"}


def context(capabilities: dict[str, Any] | None = None) -> Context:
    caps = {"elicitation": {}} if capabilities is None else capabilities
    return Context(ALICE, "2026-07-28", "modern", "req", client_capabilities=caps)


SUBJECT = Subject("tools/call", "ask.confirm", {})


async def start(parked: Rounds, ctx: Context, params: dict[str, Any], run: Run) -> dict[str, Any]:
    """`Rounds.call` of the tool call `SUBJECT`, with the door's own channel for `ctx`."""
    return await parked.call(ctx, SUBJECT, params, CallChannel(ctx, None), run)


def rounds(input_timeout: float = 60) -> Rounds:
    return Rounds(RoundSealer(os.urandom(32)), CallChannel, input_timeout=input_timeout)


def retry(first: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    return {**PARAMS, "inputResponses": answers, "requestState": first["requestState"]}


async def test_requests_made_together_are_one_round() -> None:
    async def two_at_once(channel: Channel) -> dict[str, Any]:
        ask = channel.request
        a, b = await asyncio.gather(ask("elicitation/create", {}), ask("roots/list", {}))
        return {"got": [a, b]}

    parked = rounds()
    ctx = context({"elicitation": {}, "roots": {}})
    first = await start(parked, ctx, PARAMS, two_at_once)
    assert sorted(r["method"] for r in first["inputRequests"].values()) == [
        "elicitation/create",
        "roots/list",
    ]
    answers = {key: {"n": key} for key in first["inputRequests"]}
    done = await start(parked, ctx, retry(first, answers), two_at_once)
    assert done == {"got": [{"n": "r1"}, {"n": "r2"}]}
    assert parked.parked == 0


async def test_two_retries_with_one_state_race_and_one_loses() -> None:
    release = asyncio.Event()

    async def ask_then_wait(channel: Channel) -> dict[str, Any]:
        await channel.request("elicitation/create", {})
        await release.wait()
        return {"done": True}

    parked = rounds()
    first = await start(parked, context(), PARAMS, ask_then_wait)
    again = retry(first, {"r1": ANSWER})
    winner = asyncio.ensure_future(start(parked, context(), again, ask_then_wait))
    await asyncio.sleep(0)
    with pytest.raises(RpcError, match="already answered"):
        await start(parked, context(), again, ask_then_wait)
    release.set()
    assert await winner == {"done": True}


async def test_an_abandoned_call_is_cancelled_with_the_reason_and_its_request_fails() -> None:
    seen: list[BaseException] = []

    async def ask(channel: Channel) -> dict[str, Any]:
        try:
            await channel.request("elicitation/create", {})
        except BaseException as exc:
            seen.append(exc)
            raise
        return {}

    parked = rounds(input_timeout=0.05)
    first = await start(parked, context(), PARAMS, ask)
    await asyncio.sleep(0.2)
    assert parked.parked == 0
    assert isinstance(seen[0], asyncio.CancelledError)
    assert seen[0].args == ("the client did not answer input_required within 0.05s",)
    with pytest.raises(RpcError, match="has expired"):  # its state expired with it
        await start(parked, context(), retry(first, {"r1": ANSWER}), ask)


async def test_a_client_without_the_capabilities_is_never_parked() -> None:
    ctx = context({})
    own = CallChannel(ctx, None)

    async def ask(channel: Channel) -> dict[str, Any]:
        assert channel is own  # the door's own channel, untouched
        return {"ran": "directly"}

    parked = rounds()
    assert await parked.call(ctx, SUBJECT, PARAMS, own, ask) == {"ran": "directly"}
    assert parked.parked == 0


async def test_a_request_for_an_undeclared_capability_fails_at_once() -> None:
    async def sample(channel: Channel) -> dict[str, Any]:
        try:
            await channel.request("sampling/createMessage", {})
        except ClientRequestError as exc:
            return {"refused": exc.message}
        return {}

    done = await start(rounds(), context(), PARAMS, sample)
    assert done == {
        "refused": "sampling/createMessage: the client did not declare the 'sampling' capability"
    }
