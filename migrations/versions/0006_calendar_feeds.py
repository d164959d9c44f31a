"""Calendar feeds: one revocable subscription token (stored hashed) per user; tasks.dtstart_wall.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-29 21:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_calendar_feeds_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
    )
    # A series' wall-clock start when its UTC dtstart cannot say it (a start in a DST gap).
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("dtstart_wall", sa.DateTime(timezone=False), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("dtstart_wall")
    op.drop_table("calendar_feeds")
