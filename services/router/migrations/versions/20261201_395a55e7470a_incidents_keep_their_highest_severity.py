"""incidents keep their highest severity (the four-eyes rule goes by it)

Existing incidents start from their current severity: what they were before is not known.

Revision ID: 395a55e7470a
Revises: '4ae4fd9f1a40'
Create Date: 2026-12-01 14:34:18.109830
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "395a55e7470a"
down_revision: str | Sequence[str] | None = "4ae4fd9f1a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("highest_severity", sa.String(length=8), nullable=True))
    op.execute("UPDATE incidents SET highest_severity = severity")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.alter_column("highest_severity", existing_type=sa.String(length=8), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("highest_severity")
