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
from datetime import UTC, date, datetime
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "balance": micro_to_credits(self.balance),
            "low_balance": None if self.low_balance is None else micro_to_credits(self.low_balance),
            "created_at": iso(self.created_at),
            "disabled": self.disabled,
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
