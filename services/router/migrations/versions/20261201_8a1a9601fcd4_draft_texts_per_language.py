"""draft texts per language

Revision ID: 8a1a9601fcd4
Revises: '395a55e7470a'
Create Date: 2026-12-01 17:31:42.444846
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a1a9601fcd4"
down_revision: str | Sequence[str] | None = "395a55e7470a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The initial table's (draft_id, channel_id) constraint has no name of its own: PostgreSQL
# calls it this, and SQLite's batch copy finds it under the naming convention below.
_OLD_PG = "draft_texts_draft_id_channel_id_key"
_OLD_SQLITE = "uq_draft_texts_draft_id"
_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_name() -> str:
    return _OLD_PG if op.get_bind().dialect.name == "postgresql" else _OLD_SQLITE


def upgrade() -> None:
    with op.batch_alter_table("draft_texts", naming_convention=_CONVENTION) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=16), server_default="en", nullable=False)
        )
        batch_op.add_column(sa.Column("template_language", sa.String(length=16), nullable=True))
        batch_op.drop_constraint(_old_name(), type_="unique")
        batch_op.create_unique_constraint(
            "uq_draft_texts_language", ["draft_id", "channel_id", "language"]
        )


def downgrade() -> None:
    with op.batch_alter_table("draft_texts", naming_convention=_CONVENTION) as batch_op:
        batch_op.drop_constraint("uq_draft_texts_language", type_="unique")
        batch_op.drop_column("template_language")
        batch_op.drop_column("language")
        batch_op.create_unique_constraint(_old_name(), ["draft_id", "channel_id"])
