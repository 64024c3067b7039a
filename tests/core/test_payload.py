"""After the tool has run, the receipt, the ledger and the audit agree whatever fails (issue 8,
item 7): too-deep or unencodable input is refused before anything runs; a result no door can
encode is a tool failure, settled and audited as one; an outcome that cannot be stored fails the
call uncharged and gives its Idempotency-Key up. Over the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from toolwire.core import payload
from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec
from toolwire.core.gateway import Gateway
from toolwire.core.model import MICRO, Outcome, Principal, ToolCall
from toolwire.core.ports import InvokeContext
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store
from toolwire.store.idempotency import SqlIdempotency

PRICE = MICRO
OPEN = {"type": "object"}


def nested(levels: int) -> Any:
    """`levels` arrays one inside the other, built without recursion."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


class Echo:
    """Returns `data` as given, or a value `make` names (what a faulty upstream might send)."""

    def __init__(self) -> None:
        self.calls = 0

    async def invoke(self, operation: Any, arguments: dict[str, Any], ctx: InvokeContext) -> Any:
        self.calls += 1
        make = arguments.get("make")
        if make == "deep":
            return {"data": nested(500)}
        if make == "bytes":
            return {"data": b"\x00raw"}
        if make == "set":
            return {"data": {1, 2}}
        if make == "huge_int":
            return {"data": 2**70}
        if make == "surrogate":
            return "\ud800"
        return {"data": arguments.get("data")}


@pytest.fixture
def echo() -> Echo:
    return Echo()


def catalog(echo: Echo) -> Catalog:
    spec = OperationSpec("echo", "echo", OPEN, echo, price=PRICE)
    always = OperationSpec("always", "echo", OPEN, echo, price=PRICE, charge_policy="always")
    return Catalog([ToolSpec("echo", "Echo", (spec, always))])


async def principal(store: Store) -> Principal:
    info = await store.accounts.create_account("t", 10 * MICRO)
    key, _ = await store.accounts.create_key(info.id, "k", ["*"])
    return Principal(key_id=key.id, account_id=info.id, scopes=ScopeSet(["*"]))


async def agreed(store: Store, who: Principal, outcome: Outcome, expected_charge: int) -> str:
    """Receipt, ledger and audit say the same; returns the audit outcome."""
    await store.ledger.flush()
    await store.audit.flush()
    balance = await store.accounts.balance(who.account_id)
    assert outcome.meta.credits_charged == expected_charge
    assert balance == 10 * MICRO - expected_charge
    assert await store.accounts.ledger_sum(who.account_id) == balance
    records = await store.audit.recent(5, account_id=who.account_id)
    assert [r.credits_charged for r in records] == [expected_charge]
    return records[0].outcome


def test_the_probe_draws_the_line_exactly_at_max_depth_for_arrays_and_objects() -> None:
    deep_object: Any = {}
    for _ in range(payload.MAX_DEPTH - 1):
        deep_object = {"k": deep_object}
    assert payload.problem(nested(payload.MAX_DEPTH)) is None
    assert payload.problem(deep_object) is None
    assert payload.problem(nested(payload.MAX_DEPTH + 1)) == "too_deep"
    assert payload.problem({"k": deep_object}) == "too_deep"
    assert payload.problem(nested(100_000)) == "too_deep"
    assert payload.problem({"a": "[" * 500}) is None  # brackets inside strings are not depth
    assert payload.problem([[1]] * 100) is None  # many brackets, shallow
    assert payload.problem({"x": {1, 2}}) == "not_encodable"


@pytest.mark.parametrize("levels", [1_020, payload.MAX_DEPTH])
async def test_input_deeper_than_the_limit_is_refused_before_anything_runs(
    store: Store, echo: Echo, levels: int
) -> None:
    gateway = Gateway(catalog(echo), store.ledger, store.audit)
    who = await principal(store)
    data = nested(levels)  # the arguments object adds one level
    outcome = await gateway.execute(who, ToolCall("echo.echo", {"data": data}, "r"))
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.details) == (
        "INVALID_ARGUMENTS",
        {"reason": "too_deep", "max_depth": payload.MAX_DEPTH},
    )
    assert echo.calls == 0
    assert await agreed(store, who, outcome, 0) == "INVALID_ARGUMENTS"


async def test_input_at_the_limit_runs_and_every_door_encoder_can_write_it(
    store: Store, echo: Echo
) -> None:
    gateway = Gateway(catalog(echo), store.ledger, store.audit)
    who = await principal(store)
    data = nested(payload.MAX_DEPTH - 1)
    outcome = await gateway.execute(who, ToolCall("echo.echo", {"data": data}, "r"))
    assert outcome.ok, outcome.error
    envelope = {"jsonrpc": "2.0", "result": {"structuredContent": outcome.data, "_meta": {}}}
    assert orjson.loads(orjson.dumps([[[[envelope]]]]))  # room to spare below orjson's limit
    assert await agreed(store, who, outcome, PRICE) == "OK"


async def test_input_json_cannot_carry_is_refused_before_anything_runs(
    store: Store, echo: Echo
) -> None:
    gateway = Gateway(catalog(echo), store.ledger, store.audit)
    who = await principal(store)
    for value in (2**70, {(1, 2): "tuple key"}, "\ud800"):
        outcome = await gateway.execute(who, ToolCall("echo.echo", {"data": value}, "r"))
        assert outcome.error is not None
        assert outcome.error.details == {"reason": "not_encodable"}
    assert echo.calls == 0


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        ("deep", "result_too_deep"),
        ("bytes", "result_not_encodable"),
        ("set", "result_not_encodable"),
        ("huge_int", "result_not_encodable"),
        ("surrogate", "result_not_encodable"),
    ],
)
async def test_a_result_no_door_can_encode_is_a_tool_failure_released_and_audited(
    store: Store, echo: Echo, make: str, reason: str
) -> None:
    gateway = Gateway(catalog(echo), store.ledger, store.audit)
    who = await principal(store)
    outcome = await gateway.execute(who, ToolCall("echo.echo", {"make": make}, "r"))
    assert echo.calls == 1
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.details["reason"]) == ("UPSTREAM_ERROR", reason)
    assert outcome.data is None
    assert await agreed(store, who, outcome, 0) == "UPSTREAM_ERROR"


async def test_a_charge_always_tool_with_an_unencodable_result_is_charged_and_says_so(
    store: Store, echo: Echo
) -> None:
    gateway = Gateway(catalog(echo), store.ledger, store.audit)
    who = await principal(store)
    outcome = await gateway.execute(who, ToolCall("echo.always", {"make": "bytes"}, "r"))
    assert outcome.error is not None
    assert await agreed(store, who, outcome, PRICE) == "UPSTREAM_ERROR"


@pytest.mark.parametrize("make", ["deep", "bytes", None])
async def test_an_idempotent_call_always_ends_done_and_replays_what_was_charged(
    store: Store, echo: Echo, make: str | None
) -> None:
    claims = SqlIdempotency(store.engine)
    gateway = Gateway(catalog(echo), store.ledger, store.audit, idempotency=claims)
    who = await principal(store)
    call = ToolCall("echo.echo", {"make": make, "data": 1}, "r1", idempotency_key="k-1")
    first = await gateway.execute(who, call)
    again = await gateway.execute(who, ToolCall(**{**_as_dict(call), "request_id": "r2"}))
    assert again.meta.replayed
    assert (again.ok, again.meta.credits_charged) == (first.ok, first.meta.credits_charged)
    assert echo.calls == 1


class BrokenClaims(SqlIdempotency):
    """Claims work; storing the outcome fails (a database hiccup at the worst moment)."""

    async def complete(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("database went away")


async def test_an_outcome_that_cannot_be_stored_fails_the_call_uncharged_and_frees_the_key(
    store: Store, echo: Echo, caplog: pytest.LogCaptureFixture
) -> None:
    claims = BrokenClaims(store.engine)
    gateway = Gateway(catalog(echo), store.ledger, store.audit, idempotency=claims)
    who = await principal(store)
    call = ToolCall("echo.echo", {"data": 1}, "r1", idempotency_key="k-2")
    with caplog.at_level("ERROR"):
        outcome = await gateway.execute(who, call)
    assert outcome.error is not None
    assert outcome.error.code == "INTERNAL"
    assert await agreed(store, who, outcome, 0) == "INTERNAL"
    # the key is not left "in progress": a retry runs afresh
    retry = await gateway.execute(
        who, ToolCall("echo.echo", {"data": 1}, "r2", idempotency_key="k-2")
    )
    assert retry.error is not None and retry.error.code == "INTERNAL"
    assert echo.calls == 2


def _as_dict(call: ToolCall) -> dict[str, Any]:
    return {name: getattr(call, name) for name in call.__slots__}
