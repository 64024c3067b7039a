"""Audit you can query: upstream, argument digest, optional redacted arguments, an index on time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Written by hand to match toolwire/store/tables.py (tests/store compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("upstream", sa.Text(), nullable=True))
    op.add_column("audit_events", sa.Column("arguments_digest", sa.Text(), nullable=True))
    op.add_column("audit_events", sa.Column("arguments", sa.Text(), nullable=True))
    op.create_index("ix_audit_events_at", "audit_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_at", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("arguments")
        batch.drop_column("arguments_digest")
        batch.drop_column("upstream")
