"""One audit record per call: `audit_events.call_id`, unique where set.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Every write of an audit record is ``ON CONFLICT DO NOTHING`` on the call's id, so a record
written twice (a settle whose commit was not confirmed and then the sink, a retried batch) is
stored once (docs/design/durable-audit.md). Rows written before have NULL and are not
constrained. Written by hand to match toolwire/store/tables.py (tests/store compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREDICATE = "call_id IS NOT NULL"


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("call_id", sa.Text(), nullable=True))
    op.create_index(
        "uq_audit_events_call_id",
        "audit_events",
        ["call_id"],
        unique=True,
        sqlite_where=sa.text(PREDICATE),
        postgresql_where=sa.text(PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("uq_audit_events_call_id", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("call_id")
