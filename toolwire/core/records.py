"""What administration reads: accounts, API keys, ledger entries and usage rows, as records.

`AccountStore` (toolwire.store.accounts) returns them and `Admin` (toolwire.core.admin) hands
them to the doors; `to_dict()` renders them JSON-ready (credits as decimal numbers, timestamps
ISO 8601 UTC with a `Z`). Amounts are integers in micro-credits.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from toolwire.core.errors import InvalidRequest
from toolwire.core.model import micro_to_credits


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, millisecond precision; None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    name: str
    balance: int
    low_balance: int | None
    created_at: datetime
    disabled: bool
    plan: str | None = None
    """The account's plan (a `limits.plans` entry of the catalog); None: the catalog decides."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "balance": micro_to_credits(self.balance),
            "low_balance": None if self.low_balance is None else micro_to_credits(self.low_balance),
            "created_at": iso(self.created_at),
            "disabled": self.disabled,
            "plan": self.plan,
        }


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An API key as administration sees it: never its secret nor its hash."""

    id: str
    account_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    servers: tuple[str, ...] | None = None
    """The virtual servers this key is limited to; None: not limited."""

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "is_admin": self.is_admin,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
            "servers": None if self.servers is None else list(self.servers),
        }


@dataclass(frozen=True, slots=True)
class LedgerEntryInfo:
    id: int
    account_id: str
    key_id: str | None
    kind: str
    amount: int
    charged: int
    reservation_id: str | None
    request_id: str | None
    tool: str | None
    operation: str | None
    note: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "key_id": self.key_id,
            "kind": self.kind,
            "amount": micro_to_credits(self.amount),
            "charged": micro_to_credits(self.charged),
            "reservation_id": self.reservation_id,
            "request_id": self.request_id,
            "tool": self.tool,
            "operation": self.operation,
            "note": self.note,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class ByokInfo:
    """A stored BYOK credential as administration sees it: never its value."""

    account_id: str
    provider: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "provider": self.provider,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


# audit records


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored audit event (one call), as the admin API, the CLI and the export render it.

    `to_dict()` field names are stable (docs/audit.md): `at` ISO 8601 UTC, `credits_charged` in
    credits, `latency_ms` in milliseconds, `arguments` the redacted arguments (a JSON object) or
    null when the tool's config does not keep them."""

    id: int
    request_id: str
    at: datetime
    account_id: str | None
    key_id: str | None
    tool: str | None
    operation: str | None
    door: str
    outcome: str
    credits_charged: int
    latency_ms: float
    credential_source: str | None
    message: str | None
    upstream: str | None = None
    arguments_digest: str | None = None
    arguments: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "at": iso(self.at),
            "account_id": self.account_id,
            "key_id": self.key_id,
            "door": self.door,
            "tool": self.tool,
            "operation": self.operation,
            "outcome": self.outcome,
            "credits_charged": micro_to_credits(self.credits_charged),
            "latency_ms": round(self.latency_ms, 3),
            "credential_source": self.credential_source or "none",
            "upstream": self.upstream,
            "arguments_digest": self.arguments_digest,
            "arguments": self.arguments,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit records to read: every field None means "any". Times are aware UTC."""

    account_id: str | None = None
    key_id: str | None = None
    tool: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str | None, what: str, now: datetime | None = None) -> datetime | None:
    """A point in time as people give it: relative (``90s``, ``15m``, ``1h``, ``7d``, ``2w``:
    that long before `now`) or ISO 8601 (``2026-11-30``, ``2026-11-30T12:00:00Z``; naive is
    UTC). None or empty stays None; anything else is `InvalidRequest` naming `what`."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    unit = _UNITS.get(text[-1:].lower())
    if unit is not None and text[:-1].isdigit() and len(text) <= 12:
        return (now or datetime.now(UTC)) - timedelta(seconds=int(text[:-1]) * unit)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"'{what}' must be a time like 1h, 7d or 2026-11-30T12:00:00Z",
            details={what: text[:64]},
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def audit_filter(
    *,
    account_id: str | None = None,
    key_id: str | None = None,
    tool: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    until: str | None = None,
    now: datetime | None = None,
) -> AuditFilter:
    """The filter as a door receives it (text); times through `parse_when`, so ``1h`` and
    ISO 8601 work alike in the CLI and the admin API. Empty strings mean "any"."""
    now = now or datetime.now(UTC)
    start, end = parse_when(since, "since", now), parse_when(until, "until", now)
    if start is not None and end is not None and start > end:
        raise InvalidRequest("'since' is after 'until'")
    if outcome is not None and outcome.strip():
        outcome = outcome.strip().upper()
    return AuditFilter(
        account_id=account_id or None,
        key_id=key_id or None,
        tool=tool or None,
        outcome=outcome or None,
        since=start,
        until=end,
    )


# usage reports

COLUMNS = ("day", "account_id", "key_id", "tool", "operation", "calls", "failures", "credits")


@dataclass(frozen=True, slots=True)
class UsageRow:
    day: str
    account_id: str | None
    key_id: str | None
    tool: str | None
    operation: str | None
    calls: int
    failures: int
    credits: int
    """Micro-credits."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "account_id": self.account_id,
            "key_id": self.key_id,
            "tool": self.tool,
            "operation": self.operation,
            "calls": self.calls,
            "failures": self.failures,
            "credits": micro_to_credits(self.credits),
        }


def parse_day(text: str | None, what: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"'{what}' must be a date like 2026-01-31", details={what: text}
        ) from None


def to_csv(rows: Iterable[UsageRow]) -> str:
    """The rows as CSV with a header line; credits as decimal credits."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        d = row.to_dict()
        writer.writerow(["" if d[c] is None else d[c] for c in COLUMNS])
    return out.getvalue()
