"""The nouns of the call path: ToolCall in, Outcome out, Principal for who is calling.

Plain frozen dataclasses with slots: they are built once or twice per call, so they stay cheap.
Credits are integers in micro-credits (1 credit = 1_000_000) everywhere inside the gateway; only
a door's rendering turns them into decimal credits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolwire.core.content import ContentBlock
from toolwire.core.errors import ToolwireError
from toolwire.core.ids import random_hex, time_prefix
from toolwire.core.scopes import ScopeSet

if TYPE_CHECKING:
    from toolwire.core.ports import Channel

MICRO = 1_000_000
"""Micro-credits in one credit."""

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
"""(progress, total, message) -> awaitable; how a tool reports progress to the door that asked."""


MAX_CREDITS = 1_000_000_000
"""The largest amount one request may name (a grant, a budget, a threshold): 10^15 micro-credits,
far from the 64-bit integers the ledger stores."""


def credits_to_micro(value: float | int | str) -> int:
    """Parse a credit amount (e.g. ``0.25``) into exact micro-credits; `ValueError` for sub-micro
    values and amounts beyond ±`MAX_CREDITS`."""
    from decimal import Decimal, InvalidOperation

    try:
        dec = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a credit amount: {value!r}") from exc
    if not dec.is_finite():
        raise ValueError(f"not a credit amount: {value!r}")
    if abs(dec) > MAX_CREDITS:
        raise ValueError(f"credit amounts are at most {MAX_CREDITS}: {value!r}")
    micro = dec * MICRO
    if micro != micro.to_integral_value():
        raise ValueError(f"credit amounts have at most 6 decimals: {value!r}")
    return int(micro)


def micro_to_credits(micro: int) -> float | int:
    """Render micro-credits as a JSON-friendly number of credits (an int when whole)."""
    if micro % MICRO == 0:
        return micro // MICRO
    return micro / MICRO


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key of an account, with the scopes that key carries."""

    key_id: str
    account_id: str
    scopes: ScopeSet
    is_admin: bool = False
    name: str = ""
    budget_hour: int | None = None
    """Spend cap of this key per UTC hour, in micro-credits (None: no cap)."""
    budget_day: int | None = None
    """Spend cap of this key per UTC day, in micro-credits (None: no cap)."""
    low_balance: int | None = None
    """The account's low-balance threshold in micro-credits; receipts flag a balance at or below."""
    servers: frozenset[str] | None = None
    """The virtual servers this key (or this request's `/mcp/<name>` path) is limited to; None:
    the whole catalog (`toolwire.core.servers`)."""
    plan: str | None = None
    """The account's stored plan (`limits.plans.<plan>` sets its rate); None: none stored."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the caller is, as a door shows it (`Gateway.whoami`): the principal and its
    account's balance in micro-credits (0 for a principal without an account)."""

    principal: Principal
    balance: int


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One request to run one operation of one tool, as every door hands it to the core.

    `tool` may be a bare tool name, or `tool.operation` when `operation` is None.
    """

    tool: str
    arguments: Mapping[str, Any]
    request_id: str
    operation: str | None = None
    door: str = "rest"
    idempotency_key: str | None = None
    channel: Channel | None = None
    """Where the call's progress and log lines go, and what the client declared (None: nowhere)."""
    trace_context: Mapping[str, str] = field(default_factory=dict)
    """The W3C trace context the caller sent (`traceparent`, optionally `tracestate`; nothing
    else), as `toolwire.inbound.tracecontext.received` keeps it: the parent of the call's span
    when tracing is on. Empty: the span starts a new trace."""


@dataclass(frozen=True, slots=True)
class Meta:
    """What every door reports beside the result: the receipt of the call."""

    request_id: str
    tool: str | None = None
    credits_charged: int = 0
    balance: int | None = None
    latency_ms: float = 0.0
    credential_source: str | None = None
    low_balance: bool | None = None
    """True when the balance is at or below the account's threshold (None: no threshold set)."""
    replayed: bool = False
    """True when this is the stored outcome of an earlier call with the same Idempotency-Key."""
    capped: Mapping[str, Any] | None = None
    """Set when the policy's result cap cut the result: `{"rule", "limit_bytes",
    "original_bytes"}` (docs/limits-and-policy.md)."""

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "tool": self.tool,
            "credits_charged": micro_to_credits(self.credits_charged),
            "balance": None if self.balance is None else micro_to_credits(self.balance),
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.credential_source is not None:
            body["credential_source"] = self.credential_source
        if self.low_balance is not None:
            body["low_balance"] = self.low_balance
        if self.replayed:
            body["replayed"] = True
        if self.capped is not None:
            body["capped"] = dict(self.capped)
        return body


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of `Gateway.execute`: data on success, a typed error otherwise, meta always."""

    meta: Meta
    data: Any = None
    """JSON data (a tool's structured content), or None."""
    error: ToolwireError | None = None
    content: tuple[ContentBlock, ...] | None = None
    """Content blocks when the tool returned a `ToolResult` with any; None for plain data."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Credits held for one call between reserve and settle-or-release."""

    id: str
    account_id: str
    key_id: str
    amount: int
    balance_after: int


@dataclass(slots=True)
class AuditEvent:
    """One record per call: who, which tool and operation, outcome, cost, latency.

    Treated as immutable (change one with `dataclasses.replace`, never by assignment), but not
    frozen: one is made on every call, and a frozen dataclass's `__init__` (an
    `object.__setattr__` per field) cost 1.9 µs against 0.5 for these sixteen fields, ~3% of a
    free call's throughput (docs/design/hot-path-front.md).

    `credits_charged` in micro-credits, `latency_ms` in milliseconds, `at` in Unix seconds.
    `arguments_digest` is ``hmac-sha256:<64 hex>`` over the canonical JSON of the validated
    arguments (`toolwire.core.audit.arguments_digest`); `arguments` holds the arguments
    themselves only when the operation asks for it (`audit: {tool: {arguments: true}}`), and the
    sink redacts them before they are stored. `upstream` is the upstream's config name (None for
    a built-in tool).

    `call_id` is the call's identity, unique per call: the reservation's id when the call
    reserved credits (the ledger and a recovery write the same call's record under it), else a
    fresh ``call_<12 hex of Unix ms><24 random hex>`` (`new_call_id`). At most one record per
    `call_id` is ever stored: every write of a record is idempotent on it
    (docs/design/durable-audit.md)."""

    request_id: str
    at: float
    account_id: str | None
    key_id: str | None
    tool: str | None
    operation: str | None
    door: str
    outcome: str
    credits_charged: int
    latency_ms: float
    credential_source: str | None = None
    message: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    upstream: str | None = None
    arguments_digest: str | None = None
    arguments: Mapping[str, Any] | None = None
    call_id: str = field(default_factory=lambda: new_call_id())


def new_call_id() -> str:
    """A fresh call identity for an audit record: ``call_``, `time_prefix()`, then 24 hex digits
    (96 random bits: unique and unguessable as before; the time in front only orders them)."""
    return "call_" + time_prefix() + random_hex(12)
