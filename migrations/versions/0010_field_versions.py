"""field_versions on tasks and lists: the version at which each field last changed (PATCH merges by it).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("tasks", "lists"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("field_versions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
            )


def downgrade() -> None:
    for table in ("lists", "tasks"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("field_versions")
