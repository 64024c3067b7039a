"""Billing: gateway instances (crash recovery), idempotency keys, BYOK credentials, key budgets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Written by hand to match toolwire/store/tables.py (tests/store compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("budget_hour", sa.BigInteger(), nullable=True))
    op.add_column("api_keys", sa.Column("budget_day", sa.BigInteger(), nullable=True))
    op.add_column("ledger_entries", sa.Column("instance_id", sa.Text(), nullable=True))
    op.create_index("ix_ledger_entries_instance_id", "ledger_entries", ["instance_id"])
    op.create_table(
        "gateway_instances",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("heartbeat_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_instances"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("idem_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("instance_id", sa.Text(), nullable=True),
        sa.Column("reservation_id", sa.Text(), nullable=True),
        sa.Column("charged", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.CheckConstraint("state IN ('pending', 'done')", name="ck_idempotency_keys_state"),
        sa.PrimaryKeyConstraint("key_id", "idem_key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_index("ix_idempotency_keys_reservation_id", "idempotency_keys", ["reservation_id"])
    op.create_table(
        "byok_credentials",
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_byok_credentials_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "provider", name="pk_byok_credentials"),
    )
    op.create_table(
        "key_spend",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("spent", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "bucket", name="pk_key_spend"),
    )


def downgrade() -> None:
    op.drop_table("key_spend")
    op.drop_table("byok_credentials")
    op.drop_index("ix_idempotency_keys_reservation_id", "idempotency_keys")
    op.drop_index("ix_idempotency_keys_expires_at", "idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("gateway_instances")
    op.drop_index("ix_ledger_entries_instance_id", "ledger_entries")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("instance_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("budget_day")
        batch.drop_column("budget_hour")
