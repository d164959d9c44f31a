"""The sweep's index leaves completed series out: they spawn nothing, and would pile up in every scan.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _index(where_pg: str, where_sqlite: str) -> None:
    op.drop_index("ix_tasks_next_occurrence", table_name="tasks")
    op.create_index(
        "ix_tasks_next_occurrence",
        "tasks",
        ["next_occurrence"],
        unique=False,
        postgresql_where=sa.text(where_pg),
        sqlite_where=sa.text(where_sqlite),
    )


def upgrade() -> None:
    _index("next_occurrence IS NOT NULL AND completed = false", "next_occurrence IS NOT NULL AND completed = 0")


def downgrade() -> None:
    _index("next_occurrence IS NOT NULL", "next_occurrence IS NOT NULL")
