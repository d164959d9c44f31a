"""Lists (projects): the lists table, tasks.list_id and tasks.position, preferences.default_reminder_minutes.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29 22:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lists",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_lists_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
    )
    op.create_index("ix_lists_user_position", "lists", ["user_id", "position"], unique=False)
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("list_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("position", sa.Float(), nullable=True))
        batch.create_foreign_key(op.f("fk_tasks_list_id_lists"), "lists", ["list_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_tasks_list", ["list_id"], unique=False)
    with op.batch_alter_table("preferences") as batch:
        batch.add_column(sa.Column("default_reminder_minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("preferences") as batch:
        batch.drop_column("default_reminder_minutes")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_list")
        batch.drop_constraint(op.f("fk_tasks_list_id_lists"), type_="foreignkey")
        batch.drop_column("position")
        batch.drop_column("list_id")
    op.drop_index("ix_lists_user_position", table_name="lists")
    op.drop_table("lists")
