"""The sealed `requestState` of a parked call (`toolwire.inbound.mcp.round_state`)."""

from __future__ import annotations

import os
import time

import pytest

from toolwire.core.model import Principal
from toolwire.core.scopes import ScopeSet
from toolwire.inbound.mcp.jsonrpc import INVALID_PARAMS, RpcError
from toolwire.inbound.mcp.round_state import EXPIRED, NOT_OURS, RoundSealer, RoundState, Subject

SECRET = os.urandom(32)
ALICE = Principal(key_id="k1", account_id="a1", scopes=ScopeSet(("*",)))
ARGS = {"question": "sure?", "n": 1}


def tool(name: str = "ask.confirm", arguments: dict[str, object] | None = None) -> Subject:
    return Subject("tools/call", name, ARGS if arguments is None else arguments)


def state(expires_in: float = 60) -> RoundState:
    return RoundState("c" * 32, 1, "instance-a", time.time() + expires_in)


def test_a_state_opens_for_the_same_key_tool_and_arguments_in_any_key_order() -> None:
    sealer = RoundSealer(SECRET)
    token = sealer.seal(state(), ALICE, tool())
    assert token.startswith("twrs1.") and "sure" not in token
    opened = RoundSealer(SECRET).open(token, ALICE, tool(arguments={"n": 1, "question": "sure?"}))
    assert (opened.call, opened.round, opened.owner) == ("c" * 32, 1, "instance-a")


@pytest.mark.parametrize(
    ("principal", "subject"),
    [
        (Principal(key_id="k2", account_id="a1", scopes=ScopeSet(("*",))), tool()),
        (Principal(key_id="k1", account_id="a2", scopes=ScopeSet(("*",))), tool()),
        (ALICE, tool("ask.other")),
        (ALICE, tool(arguments={**ARGS, "n": 2})),
        (ALICE, Subject("prompts/get", "ask.confirm", ARGS)),  # same name, another method
        (ALICE, Subject("resources/read", "ask.confirm", ARGS)),
    ],
)
def test_a_state_does_not_open_for_another_key_account_method_target_or_arguments(
    principal: Principal, subject: Subject
) -> None:
    token = RoundSealer(SECRET).seal(state(), ALICE, tool())
    with pytest.raises(RpcError) as refused:
        RoundSealer(SECRET).open(token, principal, subject)
    assert refused.value.code == INVALID_PARAMS and refused.value.message == NOT_OURS


@pytest.mark.parametrize("token", ["", "twrs1.", "twrs1.AAAA", "tws1.x", 42, "twrs1." + "A" * 2000])
def test_garbage_is_refused_as_not_ours(token: object) -> None:
    with pytest.raises(RpcError, match="does not belong"):
        RoundSealer(SECRET).open(token, ALICE, tool())


def test_another_secret_or_an_expired_state_is_refused() -> None:
    token = RoundSealer(SECRET).seal(state(), ALICE, tool())
    with pytest.raises(RpcError, match="does not belong"):
        RoundSealer(os.urandom(32)).open(token, ALICE, tool())
    old = RoundSealer(SECRET).seal(state(expires_in=-1), ALICE, tool())
    with pytest.raises(RpcError) as refused:
        RoundSealer(SECRET).open(old, ALICE, tool())
    assert refused.value.message == EXPIRED
