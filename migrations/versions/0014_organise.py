"""Organising (issue 25): sub-tasks (tasks.parent_task_id), sections of a list (sections, tasks.section_id),
comments on tasks (comments) and saved filters (filters).

Revision ID: 0014_organise
Revises: 0011_all_day
Create Date: 2026-12-03 08:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014_organise"
down_revision = "0011_all_day"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _owned(name: str, *columns: sa.Column) -> None:
    """A table with an id, its user, the given columns and the usual bookkeeping."""
    op.create_table(
        name,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f(f"fk_{name}_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    _owned(
        "sections",
        sa.Column("list_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("field_versions", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], name=op.f("fk_sections_list_id_lists"), ondelete="CASCADE"),
    )
    op.create_index("ix_sections_list_position", "sections", ["list_id", "position"], unique=False)
    _owned(
        "comments",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_comments_task_id_tasks"), ondelete="CASCADE"),
    )
    op.create_index("ix_comments_task_created", "comments", ["task_id", "created_at"], unique=False)
    _owned(
        "filters",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.String(length=1000), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("position", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("field_versions", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_filters_user_position", "filters", ["user_id", "position"], unique=False)
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("parent_task_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("section_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            op.f("fk_tasks_parent_task_id_tasks"), "tasks", ["parent_task_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_foreign_key(
            op.f("fk_tasks_section_id_sections"), "sections", ["section_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_tasks_parent_task", ["parent_task_id"], unique=False)
        batch.create_index("ix_tasks_section", ["section_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_section")
        batch.drop_index("ix_tasks_parent_task")
        batch.drop_constraint(op.f("fk_tasks_section_id_sections"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_tasks_parent_task_id_tasks"), type_="foreignkey")
        batch.drop_column("section_id")
        batch.drop_column("parent_task_id")
    op.drop_index("ix_filters_user_position", table_name="filters")
    op.drop_table("filters")
    op.drop_index("ix_comments_task_created", table_name="comments")
    op.drop_table("comments")
    op.drop_index("ix_sections_list_position", table_name="sections")
    op.drop_table("sections")
