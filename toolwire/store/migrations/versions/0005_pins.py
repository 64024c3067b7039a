"""Pinning and virtual servers: approved upstream tool definitions, keys limited to servers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Written by hand to match toolwire/store/tables.py (tests/store compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("servers", sa.Text(), nullable=True))
    op.create_table(
        "upstream_pins",
        sa.Column("upstream", sa.Text(), nullable=False),
        sa.Column("tool", sa.Text(), nullable=False),
        sa.Column("approved_hash", sa.Text(), nullable=True),
        sa.Column("approved_definition", sa.Text(), nullable=True),
        sa.Column("approved_at", _TS, nullable=True),
        sa.Column("candidate_hash", sa.Text(), nullable=True),
        sa.Column("candidate_definition", sa.Text(), nullable=True),
        sa.Column("seen_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("upstream", "tool", name="pk_upstream_pins"),
    )


def downgrade() -> None:
    op.drop_table("upstream_pins")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("servers")
