"""Fixtures for the built-in tools: a catalog of them, a real Gateway over it with minimal
recording doubles of the storage ports, and `run`, which calls a tool either straight through
its adapter or through the gateway (every test that uses it runs both ways)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from toolwire.core.catalog import Catalog, ToolSpec
from toolwire.core.errors import InsufficientCredits
from toolwire.core.gateway import Gateway
from toolwire.core.model import AuditEvent, Outcome, Principal, Reservation, ToolCall
from toolwire.core.ports import InvokeContext
from toolwire.core.scopes import ScopeSet
from toolwire.upstream.builtin import builtin_specs

Run = Callable[..., Awaitable[Any]]
Call = Callable[..., Awaitable[Outcome]]

_ids = itertools.count(1)


class RecordingLedger:
    """The Ledger port in memory, recording every call it gets."""

    def __init__(self, balance: int = 1_000_000_000) -> None:
        self.balances: dict[str, int] = {}
        self.start = balance
        self.calls: list[tuple[str, int]] = []

    async def reserve(
        self, principal: Principal, amount: int, *, request_id: str, tool: str, operation: str
    ) -> Reservation:
        self.calls.append(("reserve", amount))
        balance = self.balances.get(principal.account_id, self.start)
        if balance < amount:
            raise InsufficientCredits(details={"balance": balance, "price": amount})
        self.balances[principal.account_id] = balance - amount
        return Reservation(
            id=request_id,
            account_id=principal.account_id,
            key_id=principal.key_id,
            amount=amount,
            balance_after=balance - amount,
        )

    async def settle(
        self, reservation: Reservation, charge: int, audit: AuditEvent | None = None
    ) -> int:
        self.calls.append(("settle", charge))
        self.balances[reservation.account_id] += reservation.amount - charge
        return self.balances[reservation.account_id]

    async def release(self, reservation: Reservation, audit: AuditEvent | None = None) -> int:
        self.calls.append(("release", reservation.amount))
        self.balances[reservation.account_id] += reservation.amount
        return self.balances[reservation.account_id]

    async def balance(self, account_id: str) -> int:
        return self.balances.get(account_id, self.start)


class RecordingAudit:
    """The AuditSink port as a list."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def recorded(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog(builtin_specs())


@pytest.fixture
def principal() -> Principal:
    return Principal(key_id="key-1", account_id="acct-1", scopes=ScopeSet(["*"]))


@pytest.fixture
def ledger() -> RecordingLedger:
    return RecordingLedger()


@pytest.fixture
def audit() -> RecordingAudit:
    return RecordingAudit()


@pytest.fixture
def gateway_for(
    ledger: RecordingLedger, audit: RecordingAudit
) -> Callable[[list[ToolSpec]], Gateway]:
    """Build a Gateway over other specs, with this test's ledger and audit doubles."""

    def build(specs: list[ToolSpec]) -> Gateway:
        return Gateway(Catalog(specs), ledger, audit, default_timeout=10.0)

    return build


@pytest.fixture
def gateway(catalog: Catalog, ledger: RecordingLedger, audit: RecordingAudit) -> Gateway:
    return Gateway(catalog, ledger, audit, default_timeout=10.0)


def tool_call(name: str, arguments: dict[str, Any], **extra: Any) -> ToolCall:
    return ToolCall(tool=name, arguments=arguments, request_id=f"req-{next(_ids)}", **extra)


@pytest.fixture
def make_call() -> Callable[..., ToolCall]:
    """`make_call("echo", {"message": "hi"}, channel=...)` -> a ToolCall with a fresh id."""
    return tool_call


@pytest.fixture
def call(gateway: Gateway, principal: Principal) -> Call:
    """`await call("calc.evaluate", expression="1+1")` -> the gateway's Outcome."""

    async def execute(name: str, **arguments: Any) -> Outcome:
        return await gateway.execute(principal, tool_call(name, arguments))

    return execute


@pytest.fixture(params=["adapter", "gateway"])
def run(request: pytest.FixtureRequest, catalog: Catalog, call: Call, principal: Principal) -> Run:
    """`await run("calc.evaluate", expression="1+1")` -> the tool's data, or its error raised;
    through the adapter (no schema validation) or through the whole gateway."""

    async def via_adapter(name: str, **arguments: Any) -> Any:
        op = catalog.resolve(name)
        ctx = InvokeContext(request_id=f"req-{next(_ids)}", principal=principal)
        return await op.adapter.invoke(op, dict(arguments), ctx)

    async def via_gateway(name: str, **arguments: Any) -> Any:
        outcome = await call(name, **arguments)
        if outcome.error is not None:
            raise outcome.error
        return outcome.data

    return via_adapter if request.param == "adapter" else via_gateway
