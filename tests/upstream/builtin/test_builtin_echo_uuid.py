"""echo and uuid.generate."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from toolwire.core.model import Outcome
from toolwire.upstream.builtin import BUILTINS, uuids

Run = Callable[..., Awaitable[Any]]
Call = Callable[..., Awaitable[Outcome]]


async def test_echo_returns_the_message_and_the_data_unchanged(run: Run) -> None:
    data = {"nested": [1, 2.5, None, True, {"k": "v"}]}
    assert await run("echo", message="hello", data=data) == {"echo": "hello", "data": data}


async def test_echo_data_is_null_when_not_given(run: Run) -> None:
    assert await run("echo", message="") == {"echo": "", "data": None}


async def test_echo_is_listed_and_resolved_by_its_bare_name(call: Call) -> None:
    outcome = await call("echo", message="hi")
    assert outcome.data == {"echo": "hi", "data": None}
    assert outcome.meta.tool == "echo"


async def test_echo_requires_a_string_message_and_nothing_else(call: Call) -> None:
    for arguments in ({}, {"message": 1}, {"message": "a", "extra": 1}):
        outcome = await call("echo", **arguments)
        assert outcome.error is not None
        assert outcome.error.code == "INVALID_ARGUMENTS"


def test_echo_runs_inline_without_a_thread_hop() -> None:
    op = BUILTINS.get("echo")
    assert not op.blocking
    assert not op.is_async
    assert op.context_param is None


async def test_a_priced_echo_is_charged_under_its_bare_name(
    gateway_for: Any, make_call: Any, principal: Any
) -> None:
    gateway = gateway_for(BUILTINS.specs({"echo": 1_000}))
    outcome = await gateway.execute(principal, make_call("echo", {"message": "x"}))
    assert outcome.meta.credits_charged == 1_000


async def test_uuid_defaults_to_one_random_version_4(run: Run) -> None:
    data = await run("uuid.generate")
    assert data["version"] == 4
    [value] = data["uuids"]
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == value


async def test_uuid_version_4_values_are_unique(run: Run) -> None:
    data = await run("uuid.generate", count=100)
    assert len(set(data["uuids"])) == 100


async def test_uuid_version_7_values_are_time_ordered_and_well_formed(run: Run) -> None:
    before = time.time_ns() // 1_000_000
    first = (await run("uuid.generate", version=7, count=100))["uuids"]
    second = (await run("uuid.generate", version=7, count=100))["uuids"]
    after = time.time_ns() // 1_000_000
    values = first + second
    assert values == sorted(values)
    assert len(set(values)) == 200
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after + 1


def test_uuid_version_7_stays_ordered_when_the_clock_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uuids, "_last_ms", 0)  # restored afterwards: no future ms leaks out
    now = [2_000_000_000_000 * 1_000_000]
    monkeypatch.setattr(uuids.time, "time_ns", lambda: now[0])
    made = [uuids.uuid7()]
    now[0] -= 5_000 * 1_000_000
    made += [uuids.uuid7() for _ in range(3)]
    assert made == sorted(made)
    assert len({u.int >> 80 for u in made}) == 1


def test_uuid_version_7_moves_to_the_next_millisecond_when_the_counter_is_exhausted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uuids, "_last_ms", 0)
    monkeypatch.setattr(uuids.time, "time_ns", lambda: 3_000_000_000_000 * 1_000_000)
    monkeypatch.setattr(uuids, "_seed", lambda: uuids._COUNTER_MAX)
    first, second = uuids.uuid7(), uuids.uuid7()
    assert second > first
    assert (second.int >> 80) == (first.int >> 80) + 1


async def test_uuid_rejects_unknown_versions_and_counts_out_of_range(call: Call) -> None:
    for arguments in ({"version": 5}, {"version": "7"}, {"count": 0}, {"count": 101}):
        outcome = await call("uuid.generate", **arguments)
        assert outcome.error is not None
        assert outcome.error.code == "INVALID_ARGUMENTS"
