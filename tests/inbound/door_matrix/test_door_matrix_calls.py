"""The same behaviours through every door (one cell per behaviour and door; see README.md).

Every expected failure is computed by the door from its own error table (`door.expected_error`);
credits are read through the admin API, the audit log from the gateway's database file.
"""

from __future__ import annotations

import uuid

import anyio
import pytest

from tests.inbound.door_matrix.books import audit_record, open_reservations, wait_for
from tests.inbound.door_matrix.conftest import ALLOWED_DOMAIN, FETCH, PRICES, THROTTLED, Keys
from tests.inbound.door_matrix.door import Answer, Door, World
from toolwire.core.model import credits_to_micro

UNKNOWN = "nosuch.thing"
DENIED = "hidden.peek"
"""A tool that exists, which the `limited` key's scopes (`matrix.*`) do not cover."""
ADD = "matrix.add"
OUTSIDE_SERVER = "echo"
"""A tool the `limited` key's scopes allow but its virtual server (`matrix.*`) does not hold."""
WAIT_S = 2.0
"""How long the call to cancel runs if nothing cancels it (a door that cannot cancel pays it)."""


def refused(door: Door, answer: Answer, code: str) -> None:
    """`answer` is a refusal with `code`, in the form the door's error table gives that code."""
    assert (answer.ok, answer.code) == (False, code), answer.raw
    expected = door.expected_error(code)
    assert answer.wire.matches(expected), (answer.wire, expected)


def test_a_scope_denied_tool_is_absent_from_the_doors_listing(door: Door, keys: Keys) -> None:
    limited = door.list_tools(keys.limited)
    assert ADD in limited
    assert DENIED not in limited
    assert DENIED in door.list_tools(keys.rich)


def test_a_scope_denied_tool_is_refused_and_charges_nothing(
    door: Door, keys: Keys, world: World
) -> None:
    before = world.balance(keys.limited)
    answer = door.call(keys.limited, DENIED, {})
    assert answer.code in ("FORBIDDEN", "TOOL_NOT_FOUND"), answer.raw
    refused(door, answer, answer.code)
    assert world.balance(keys.limited) == before


def test_a_scope_denied_tool_is_answered_exactly_as_an_unknown_tool(door: Door, keys: Keys) -> None:
    denied = door.call(keys.limited, DENIED, {})
    unknown = door.call(keys.limited, UNKNOWN, {})
    assert denied.comparable(DENIED) == unknown.comparable(UNKNOWN)


def test_a_tool_outside_the_keys_virtual_server_is_absent_and_refused(
    door: Door, keys: Keys, world: World
) -> None:
    assert OUTSIDE_SERVER in door.list_tools(keys.rich)
    listed = door.list_tools(keys.limited)
    assert ADD in listed and OUTSIDE_SERVER not in listed
    before = world.balance(keys.limited)
    refused(door, door.call(keys.limited, OUTSIDE_SERVER, {"message": "hi"}), "TOOL_NOT_FOUND")
    assert world.balance(keys.limited) == before


@pytest.mark.parametrize(
    "name",
    [UNKNOWN, "matrix.nosuch", "nosuch"],
    ids=["unknown-tool", "unknown-operation", "bare-unknown"],
)
def test_an_unknown_tool_is_refused_as_tool_not_found(door: Door, keys: Keys, name: str) -> None:
    refused(door, door.call(keys.rich, name, {}), "TOOL_NOT_FOUND")


@pytest.mark.parametrize(
    "args",
    [{"a": "one", "b": 2}, {"a": 1}, {"a": 1, "b": 2, "c": 3}],
    ids=["wrong-type", "missing", "unknown-field"],
)
def test_invalid_arguments_are_refused_and_charge_nothing(
    door: Door, keys: Keys, world: World, args: dict[str, object]
) -> None:
    before = world.balance(keys.rich)
    refused(door, door.call(keys.rich, ADD, args), "INVALID_ARGUMENTS")
    assert world.balance(keys.rich) == before


def test_a_call_the_balance_cannot_cover_is_refused_and_charges_nothing(
    door: Door, keys: Keys, world: World
) -> None:
    before = world.balance(keys.limited)
    refused(door, door.call(keys.limited, ADD, {"a": 1, "b": 2}), "INSUFFICIENT_CREDITS")
    assert world.balance(keys.limited) == before


def test_a_call_that_times_out_releases_its_credits(door: Door, keys: Keys, world: World) -> None:
    before = world.balance(keys.rich)
    refused(door, door.call(keys.rich, "matrix.stall", {}), "UPSTREAM_TIMEOUT")
    assert open_reservations(world.gateway.data_dir, keys.rich.account_id) == 0
    assert world.balance(keys.rich) == before


def test_an_idempotent_replay_returns_the_first_result_and_is_charged_once(
    door: Door, keys: Keys, world: World
) -> None:
    idempotency_key = f"matrix-{uuid.uuid4().hex}"
    before = world.balance(keys.rich)
    first = door.call(keys.rich, ADD, {"a": 2, "b": 3}, idempotency_key=idempotency_key)
    again = door.call(keys.rich, ADD, {"a": 2, "b": 3}, idempotency_key=idempotency_key)
    assert (first.ok, again.ok) == (True, True), (first.raw, again.raw)
    assert first.data == again.data == {"sum": 5}
    assert before - world.balance(keys.rich) == PRICES[ADD]


def test_a_cancelled_call_charges_nothing(door: Door, keys: Keys, world: World) -> None:
    key = keys.rich
    before = world.balance(key)
    reserved = before - PRICES["matrix.wait"]

    async def started() -> None:
        # The reservation is held in another process: no event crosses to here, so poll.
        while await world.abalance(key) != reserved:  # noqa: ASYNC110
            await anyio.sleep(0.02)

    door.call_cancelled(key, "matrix.wait", {"seconds": WAIT_S}, started)
    data_dir = world.gateway.data_dir
    wait_for(
        lambda: open_reservations(data_dir, key.account_id) == 0,
        "the cancelled call's reservation is resolved",
    )
    assert world.balance(key) == before


def test_a_successful_call_is_audited_completely(door: Door, keys: Keys, world: World) -> None:
    answer = door.call(keys.rich, ADD, {"a": 20, "b": 22})
    assert answer.ok, answer.raw
    assert answer.data == {"sum": 42}
    assert answer.meta is not None
    assert answer.meta["credits_charged"] == PRICES[ADD]
    request_id = answer.request_id
    assert request_id is not None
    data_dir = world.gateway.data_dir
    wait_for(lambda: audit_record(data_dir, request_id) is not None, "the call is audited")
    record = audit_record(data_dir, request_id)
    assert record is not None
    assert record["latency_ms"] > 0
    assert record["at"]
    assert record["arguments_digest"].startswith("hmac-sha256:")  # keyed; arguments not kept
    skip = ("id", "at", "latency_ms", "arguments_digest", "call_id")
    assert {k: v for k, v in record.items() if k not in skip} == {
        "request_id": request_id,
        "account_id": keys.rich.account_id,
        "key_id": keys.rich.key_id,
        "tool": "matrix",
        "operation": "add",
        "door": door.audit_door,
        "outcome": "OK",
        "credits_charged": credits_to_micro(PRICES[ADD]),
        "credential_source": None,
        "message": None,
        "upstream": None,
        "arguments": None,
    }


def test_a_rate_limited_call_is_refused_with_its_retry_delay(door: Door, keys: Keys) -> None:
    first = door.call(keys.rich, THROTTLED, {})
    assert first.ok, first.raw
    answer = door.call(keys.rich, THROTTLED, {})
    refused(door, answer, "RATE_LIMITED")
    details = answer.details
    assert isinstance(details, dict), answer.raw
    assert details["rule"] == f"limits.tools.{THROTTLED}.per_key"
    delay = details["retry_after_s"]
    assert isinstance(delay, int) and 1 <= delay <= 3600, details
    if answer.wire.form in ("envelope", "exception"):  # REST's Retry-After, the SDK's attribute
        assert answer.retry_after == delay


def test_a_policy_refusal_names_its_rule_and_charges_nothing(
    door: Door, keys: Keys, world: World
) -> None:
    before = world.balance(keys.rich)
    answer = door.call(keys.rich, FETCH, {"url": "https://example.com.evil.test/"})
    refused(door, answer, "POLICY_DENIED")
    assert isinstance(answer.details, dict), answer.raw
    assert answer.details["rule"] == f"policy.{FETCH}.arguments.url.domains"
    allowed = door.call(keys.rich, FETCH, {"url": f"https://{ALLOWED_DOMAIN}/page"})
    assert allowed.ok, allowed.raw
    assert world.balance(keys.rich) == before
