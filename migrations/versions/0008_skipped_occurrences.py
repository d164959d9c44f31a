"""Skipped occurrences of a series: never respawned, EXDATEs in the calendar feed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "skipped_occurrences",
        sa.Column("series_id", sa.String(length=36), nullable=False),
        sa.Column("occurrence_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"], ["tasks.id"], name=op.f("fk_skipped_occurrences_series_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("series_id", "occurrence_at", name=op.f("pk_skipped_occurrences")),
    )


def downgrade() -> None:
    op.drop_table("skipped_occurrences")
