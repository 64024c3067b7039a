"""Plans stored per account: the name of a catalog plan (`limits.plans`), NULL for none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Written by hand to match toolwire/store/tables.py (tests/store compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("plan", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("plan")
