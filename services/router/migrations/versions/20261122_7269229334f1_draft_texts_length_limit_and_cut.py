"""draft texts: length, limit and cut (a draft's size as its channel counts it)

Revision ID: 7269229334f1
Revises: 'e958ac489f1b'
Create Date: 2026-11-22 00:05:44.176292
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7269229334f1"
down_revision: str | Sequence[str] | None = "e958ac489f1b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("draft_texts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("length", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("limit", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("cut_chars", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("draft_texts", schema=None) as batch_op:
        batch_op.drop_column("cut_chars")
        batch_op.drop_column("limit")
        batch_op.drop_column("length")
