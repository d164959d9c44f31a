"""Indexes for the filter language (functions.tasks.core.filters): a person's tasks by priority and
due date (p1 & (today | overdue)), and on PostgreSQL a GIN index on the JSONB tags so `@tag` is
`tags @> '["tag"]'` through the index (SQLite reads tags with json_each, no index needed at its size).

Revision ID: 0015_filter_indexes
Revises: 0013
Create Date: 2026-12-03 08:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_filter_indexes"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_user_priority_due", "tasks", ["user_id", "priority", "due_date"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_tasks_tags",
            "tasks",
            [sa.text("tags jsonb_path_ops")],
            postgresql_using="gin",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tasks_tags", table_name="tasks")
    op.drop_index("ix_tasks_user_priority_due", table_name="tasks")
