"""The durable schema as SQLAlchemy Core tables: accounts, API keys, the ledger, audit, meta.

What it is: the single description of the schema that queries are written against and that the
hand-written Alembic revisions must match (a test compares them). What it is not: a migration
tool (see `toolwire.store.migrations`) or an ORM; there are no mapped classes.

Money is integers: `balance`, `amount` and `charged` are micro-credits (1 credit = 1_000_000) in
BIGINT columns. The ledger is append-only and, for every account,
``accounts.balance == SUM(ledger_entries.amount)``. Timestamps are timezone-aware UTC in Python;
SQLite stores them as naive UTC text, which `UTCDateTime` hides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    false,
    text,
)

LEDGER_KINDS = ("grant", "reserve", "charge", "release", "refund", "adjustment")
"""Every kind a ledger entry may have."""

RESOLVING_KINDS = ("charge", "release")
"""Kinds that resolve a reservation; at most one of them exists per reservation id."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite has no timezone support)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")
"""BIGINT ids; INTEGER on SQLite, where only `INTEGER PRIMARY KEY` is an autoincrementing rowid."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("balance", BigInteger, nullable=False, server_default=text("0")),
    Column("low_balance", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("plan", Text, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("account_id", Text, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("budget_hour", BigInteger, nullable=True),
    Column("budget_day", BigInteger, nullable=True),
    Column("servers", Text, nullable=True),
)

_kind_list = ", ".join(f"'{kind}'" for kind in LEDGER_KINDS)
_resolving_list = ", ".join(f"'{kind}'" for kind in RESOLVING_KINDS)
RESOLVING_PREDICATE = f"kind IN ({_resolving_list})"
"""The partial-index predicate, as SQL text (also used as ON CONFLICT's index_where)."""
AUDIT_CALL_PREDICATE = "call_id IS NOT NULL"
"""The predicate of the audit records' unique call index (and its ON CONFLICT's index_where)."""

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("account_id", Text, ForeignKey("accounts.id"), nullable=False),
    Column("key_id", Text, nullable=True),
    Column("kind", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("charged", BigInteger, nullable=False, server_default=text("0")),
    Column("reservation_id", Text, nullable=True),
    Column("request_id", Text, nullable=True),
    Column("tool", Text, nullable=True),
    Column("operation", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("instance_id", Text, nullable=True),
    CheckConstraint(f"kind IN ({_kind_list})", name="kind"),
    Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    Index("ix_ledger_entries_reservation_id", "reservation_id"),
    Index("ix_ledger_entries_instance_id", "instance_id"),
    Index(
        "uq_ledger_entries_resolution",
        "reservation_id",
        unique=True,
        sqlite_where=text(RESOLVING_PREDICATE),
        postgresql_where=text(RESOLVING_PREDICATE),
    ),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("request_id", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("account_id", Text, nullable=True),
    Column("key_id", Text, nullable=True),
    Column("tool", Text, nullable=True),
    Column("operation", Text, nullable=True),
    Column("door", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("credits_charged", BigInteger, nullable=False, server_default=text("0")),
    Column("latency_ms", Float, nullable=False),
    Column("credential_source", Text, nullable=True),
    Column("message", Text, nullable=True),
    Column("upstream", Text, nullable=True),
    Column("arguments_digest", Text, nullable=True),
    Column("arguments", Text, nullable=True),
    Column("call_id", Text, nullable=True),
    Index("ix_audit_events_account_id_at", "account_id", "at"),
    Index("ix_audit_events_at", "at"),
    Index(
        "uq_audit_events_call_id",
        "call_id",
        unique=True,
        sqlite_where=text(AUDIT_CALL_PREDICATE),
        postgresql_where=text(AUDIT_CALL_PREDICATE),
    ),
)
"""One row per call (migration 0004 added `upstream`, `arguments_digest` and `arguments`, the
redacted JSON kept only for tools whose config asks; docs/audit.md). Migration 0007 added
`call_id`, the call's identity (`AuditEvent.call_id`; NULL in rows written before it), unique:
every write of a record is ``ON CONFLICT DO NOTHING`` on it, so a record written twice (a
settle whose commit was not confirmed, a retried batch) is stored once."""

system_meta = Table(
    "system_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", Text, primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Upstream credentials, sealed with AES-GCM (see `toolwire.vault`); never stored in clear."""

# Billing (migration 0003): process liveness, idempotent calls, BYOK credentials, key budgets.

gateway_instances = Table(
    "gateway_instances",
    metadata,
    Column("id", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)
"""One row per running gateway process; `ledger_entries.instance_id` names the one that reserved."""

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("idem_key", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("instance_id", Text, nullable=True),
    Column("reservation_id", Text, nullable=True),
    Column("charged", BigInteger, nullable=False, server_default=text("0")),
    Column("response", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    CheckConstraint("state IN ('pending', 'done')", name="state"),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
    Index("ix_idempotency_keys_reservation_id", "reservation_id"),
)
"""`Idempotency-Key` claims per API key: pending while the first call runs, then its outcome."""

byok_credentials = Table(
    "byok_credentials",
    metadata,
    Column("account_id", Text, ForeignKey("accounts.id"), primary_key=True),
    Column("provider", Text, primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""An account's own provider credentials (BYOK), sealed like the vault's; never read back."""

key_spend = Table(
    "key_spend",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("bucket", Text, primary_key=True),
    Column("spent", BigInteger, nullable=False, server_default=text("0")),
)
"""Micro-credits a budgeted key reserved (net of releases) per hour (`h:...`) and day (`d:...`)."""

# Pinning and virtual servers (migration 0004).

upstream_pins = Table(
    "upstream_pins",
    metadata,
    Column("upstream", Text, primary_key=True),
    Column("tool", Text, primary_key=True),
    Column("approved_hash", Text, nullable=True),
    Column("approved_definition", Text, nullable=True),
    Column("approved_at", UTCDateTime, nullable=True),
    Column("candidate_hash", Text, nullable=True),
    Column("candidate_definition", Text, nullable=True),
    Column("seen_at", UTCDateTime, nullable=True),
)
"""Approved definition hashes per (upstream, tool) with the approved definition (for diffs), and
the held candidate an upstream reports instead (`toolwire.core.pins`)."""
