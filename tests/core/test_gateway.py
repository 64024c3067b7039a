"""The one call path over the real store (SQLite and PostgreSQL): order of steps, money, audit."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec
from toolwire.core.errors import UpstreamError
from toolwire.core.gateway import Gateway
from toolwire.core.model import MICRO, Principal, ToolCall
from toolwire.core.ports import InvokeContext
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store

PRICE = 2 * MICRO
SCHEMA = {
    "type": "object",
    "properties": {"mode": {"enum": ["ok", "crash", "upstream", "slow", "hang"]}},
    "required": ["mode"],
    "additionalProperties": False,
}


class Upstream:
    """The upstream edge: behaves as each call's `mode` says, and counts invocations."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = asyncio.Event()

    async def invoke(self, operation: Any, arguments: dict[str, Any], ctx: InvokeContext) -> Any:
        self.calls += 1
        self.started.set()
        mode = arguments["mode"]
        if mode == "crash":
            raise RuntimeError("secret-text-from-a-crash")
        if mode == "upstream":
            raise UpstreamError("provider said 503", details={"status": 503})
        if mode in ("slow", "hang"):
            await asyncio.sleep(3600)
        return {"mode": mode}


def catalog(upstream: Upstream) -> Catalog:
    def op(name: str, price: int, **kw: Any) -> OperationSpec:
        return OperationSpec(name, f"{name} op", SCHEMA, upstream, price=price, **kw)

    return Catalog(
        [
            ToolSpec(
                "paid",
                "Priced tool",
                (
                    op("run", PRICE),
                    op("always", PRICE, charge_policy="always"),
                    op("quick", PRICE, timeout=0.05),
                ),
                category="test",
            ),
            ToolSpec("free", "Free tool", (op("run", 0),), category="test"),
            ToolSpec("secret", "Hidden tool", (op("run", 0),), category="hidden"),
        ]
    )


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def gateway(store: Store, upstream: Upstream) -> Gateway:
    return Gateway(catalog(upstream), store.ledger, store.audit, default_timeout=5)


async def account(
    store: Store, credits: int, scopes: tuple[str, ...] = ("*", "!category:hidden")
) -> Principal:
    info = await store.accounts.create_account("t", credits * MICRO)
    key, _ = await store.accounts.create_key(info.id, "k", list(scopes))
    return Principal(key_id=key.id, account_id=info.id, scopes=ScopeSet(scopes))


def call(tool: str, mode: str = "ok", **kw: Any) -> ToolCall:
    return ToolCall(tool=tool, arguments={"mode": mode}, request_id=f"req-{tool}-{mode}", **kw)


async def assert_balanced(store: Store, principal: Principal, expected_credits: float) -> None:
    await store.ledger.flush()
    balance = await store.accounts.balance(principal.account_id)
    assert balance == int(expected_credits * MICRO)
    assert await store.accounts.ledger_sum(principal.account_id) == balance


async def test_a_priced_call_is_charged_once_and_reports_the_balance(
    gateway: Gateway, store: Store
) -> None:
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.run"))
    assert outcome.ok
    assert outcome.data == {"mode": "ok"}
    assert outcome.meta.credits_charged == PRICE
    assert outcome.meta.balance == 8 * MICRO
    assert outcome.meta.tool == "paid.run"
    await assert_balanced(store, who, 8)


async def test_a_free_call_moves_no_credits_but_reports_the_balance(
    gateway: Gateway, store: Store
) -> None:
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("free.run"))
    assert outcome.ok
    assert outcome.meta.credits_charged == 0
    assert outcome.meta.balance == 10 * MICRO
    await assert_balanced(store, who, 10)


@pytest.mark.parametrize(
    ("tool", "arguments", "code"),
    [
        ("nope.run", {"mode": "ok"}, "TOOL_NOT_FOUND"),
        ("secret.run", {"mode": "ok"}, "TOOL_NOT_FOUND"),
        ("paid.run", {"mode": "bogus"}, "INVALID_ARGUMENTS"),
        ("paid.run", {}, "INVALID_ARGUMENTS"),
    ],
)
async def test_calls_refused_before_invoking_touch_no_upstream_and_no_credit(
    gateway: Gateway,
    store: Store,
    upstream: Upstream,
    tool: str,
    arguments: dict[str, Any],
    code: str,
) -> None:
    who = await account(store, 10)
    outcome = await gateway.execute(who, ToolCall(tool=tool, arguments=arguments, request_id="r"))
    assert outcome.error is not None
    assert outcome.error.code == code
    assert upstream.calls == 0
    assert outcome.meta.credits_charged == 0
    await assert_balanced(store, who, 10)


async def test_insufficient_credits_stop_the_call_before_the_upstream(
    gateway: Gateway, store: Store, upstream: Upstream
) -> None:
    who = await account(store, 1)
    outcome = await gateway.execute(who, call("paid.run"))
    assert outcome.error is not None
    assert outcome.error.code == "INSUFFICIENT_CREDITS"
    assert upstream.calls == 0
    await assert_balanced(store, who, 1)


@pytest.mark.parametrize(
    ("mode", "code"), [("crash", "UPSTREAM_ERROR"), ("upstream", "UPSTREAM_ERROR")]
)
async def test_a_failing_tool_releases_its_reservation(
    gateway: Gateway, store: Store, mode: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    who = await account(store, 10)
    with caplog.at_level(logging.ERROR, logger="toolwire.gateway"):
        outcome = await gateway.execute(who, call("paid.run", mode))
    assert outcome.error is not None
    assert outcome.error.code == code
    assert "secret-text-from-a-crash" not in outcome.error.message
    assert outcome.meta.credits_charged == 0
    assert outcome.meta.balance == 10 * MICRO
    if mode == "crash":  # the traceback goes to the log, not to the caller
        assert "secret-text-from-a-crash" in caplog.text
    await assert_balanced(store, who, 10)


async def test_a_tool_that_runs_past_its_timeout_fails_and_is_not_charged(
    gateway: Gateway, store: Store
) -> None:
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.quick", "hang"))
    assert outcome.error is not None
    assert outcome.error.code == "UPSTREAM_TIMEOUT"
    await assert_balanced(store, who, 10)


async def test_a_charge_always_tool_is_charged_even_when_it_fails(
    gateway: Gateway, store: Store
) -> None:
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.always", "upstream"))
    assert outcome.error is not None
    assert outcome.meta.credits_charged == PRICE
    await assert_balanced(store, who, 8)


async def test_a_cancelled_call_releases_its_reservation(
    gateway: Gateway, store: Store, upstream: Upstream
) -> None:
    who = await account(store, 10)
    task = asyncio.create_task(gateway.execute(who, call("paid.run", "hang")))
    async with asyncio.timeout(5):
        await upstream.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_balanced(store, who, 10)
    await store.audit.flush()
    records = await store.audit.recent(10, account_id=who.account_id)
    assert [(r.outcome, r.credits_charged) for r in records] == [("CANCELLED", 0)]


async def test_the_drain_deadline_stops_running_calls_as_unavailable_and_releases_them(
    gateway: Gateway, store: Store, upstream: Upstream
) -> None:
    """`stop_calls` (an instance's drain deadline): calls in their tool fail with UNAVAILABLE,
    released even under `charge_policy: always`; a call arriving afterwards fails before its
    tool runs. Each is audited, charged nothing."""
    who = await account(store, 10)
    running = [
        asyncio.create_task(gateway.execute(who, call(name, "hang")))
        for name in ("paid.run", "paid.always")
    ]
    async with asyncio.timeout(5):
        while upstream.calls < 2:  # noqa: ASYNC110 (the upstream counts; no event per call)
            await asyncio.sleep(0.01)
    assert gateway.stop_calls() == 2
    late = await gateway.execute(who, call("paid.run", "ok"))
    outcomes = [*await asyncio.gather(*running), late]
    assert upstream.calls == 2  # the late call never reached its tool
    for outcome in outcomes:
        assert outcome.error is not None
        assert (outcome.error.code, outcome.error.details["reason"]) == ("UNAVAILABLE", "draining")
        assert outcome.meta.credits_charged == 0
    await assert_balanced(store, who, 10)
    await store.audit.flush()
    records = await store.audit.recent(10, account_id=who.account_id)
    assert [(r.outcome, r.credits_charged) for r in records] == [("UNAVAILABLE", 0)] * 3


async def test_every_call_leaves_one_audit_record(gateway: Gateway, store: Store) -> None:
    who = await account(store, 10)
    await gateway.execute(who, call("paid.run"))
    await gateway.execute(who, call("paid.run", "crash"))
    await gateway.execute(who, call("nope.run"))
    await store.audit.flush()
    records = await store.audit.recent(10, account_id=who.account_id)
    assert sorted(r.outcome for r in records) == ["OK", "TOOL_NOT_FOUND", "UPSTREAM_ERROR"]
    charged = {r.outcome: r.credits_charged for r in records}
    assert charged == {"OK": PRICE, "TOOL_NOT_FOUND": 0, "UPSTREAM_ERROR": 0}


class AnswerLost:
    """The store's ledger, except that every settle and release commits and then raises, as
    when the connection drops after COMMIT and before its answer reaches the gateway."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    async def reserve(self, *args: Any, **kwargs: Any) -> Any:
        return await self.ledger.reserve(*args, **kwargs)

    async def settle(self, *args: Any) -> int:
        await self.ledger.settle(*args)
        raise ConnectionResetError("connection reset after COMMIT")

    async def release(self, *args: Any) -> int:
        await self.ledger.release(*args)
        raise ConnectionResetError("connection reset after COMMIT")

    async def balance(self, account_id: str) -> int:
        return int(await self.ledger.balance(account_id))

    async def resolution(self, reservation: Any) -> int | None:
        value: int | None = await self.ledger.resolution(reservation)
        return value


@pytest.mark.parametrize(("mode", "charged"), [("ok", PRICE), ("upstream", 0)])
async def test_a_settle_committed_but_not_confirmed_leaves_one_audit_record(
    store: Store, upstream: Upstream, mode: str, charged: int
) -> None:
    """The settle (or release) committed but raised in the gateway: the receipt, the ledger and
    the call's one audit record all say what the ledger charged."""
    gateway = Gateway(catalog(upstream), AnswerLost(store.ledger), store.audit, default_timeout=5)
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.run", mode))
    assert (outcome.meta.credits_charged, outcome.meta.balance) == (charged, 10 * MICRO - charged)
    await store.audit.flush()
    [record] = await store.audit.recent(10, account_id=who.account_id)
    assert record.credits_charged == charged
    await assert_balanced(store, who, 10 - charged / MICRO)


async def test_a_settle_that_did_not_commit_is_answered_and_audited_uncharged(
    store: Store, upstream: Upstream
) -> None:
    """Every settle attempt failed and nothing committed: charged 0 on the receipt and the
    record; the reservation stays open for the reconciler, whose release keeps that record."""

    class Down(AnswerLost):
        async def settle(self, *args: Any) -> int:
            raise ConnectionRefusedError("database down")

    gateway = Gateway(catalog(upstream), Down(store.ledger), store.audit, default_timeout=5)
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.run"))
    assert outcome.ok and outcome.meta.credits_charged == 0
    await store.audit.flush()  # the sink writes within ~200 ms; the reconciler comes much later
    assert await store.ledger.reconcile(stale_after=0) == 1
    [record] = await store.audit.recent(10, account_id=who.account_id)
    assert (record.outcome, record.credits_charged) == ("OK", 0)
    assert "reconcile: stale reservation" in (record.message or "")
    await assert_balanced(store, who, 10)


async def test_visible_lists_only_what_the_key_may_call(gateway: Gateway, store: Store) -> None:
    who = await account(store, 1, scopes=("paid.*",))
    assert [op.qualified for op in gateway.visible(who)] == [
        "paid.always",
        "paid.quick",
        "paid.run",
    ]


async def test_a_denied_tool_is_answered_exactly_as_an_unknown_one(
    gateway: Gateway, store: Store
) -> None:
    who = await account(store, 10)
    for tool, operation in (("secret", "run"), ("secret", None), ("secret.run", None)):
        denied = await gateway.execute(who, ToolCall(tool, {"mode": "ok"}, "r", operation))
        ghost = tool.replace("secret", "ghost")
        missing = await gateway.execute(who, ToolCall(ghost, {"mode": "ok"}, "r", operation))
        assert denied.error is not None and missing.error is not None
        assert denied.error.to_dict() == {
            **missing.error.to_dict(),
            "message": missing.error.message.replace("ghost", "secret"),
            "details": {"tool": missing.error.details["tool"].replace("ghost", "secret")},
        }
        assert _receipt(denied.meta) == _receipt(missing.meta)
    await store.audit.flush()
    records = await store.audit.recent(10, account_id=who.account_id)
    messages = sorted(str(r.message) for r in records if r.outcome == "TOOL_NOT_FOUND")
    assert sum(m.startswith("denied by the key's scopes") for m in messages) == 3


def _receipt(meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = meta.to_dict()
    body.pop("latency_ms")
    return body


async def test_explicit_forbidden_names_the_denial_when_the_operator_turns_it_on(
    store: Store, upstream: Upstream
) -> None:
    gateway = Gateway(catalog(upstream), store.ledger, store.audit, explicit_forbidden=True)
    who = await account(store, 10)
    denied = await gateway.execute(who, call("secret.run"))
    assert denied.error is not None
    assert denied.error.code == "FORBIDDEN"
    assert upstream.calls == 0
