"""All-day tasks: tasks.all_day (a date-only due date, stored at 00:00 UTC of that date) and the time of
day their reminders ring at (preferences.all_day_reminder_time, "HH:MM" in the person's zone).

Revision ID: 0011_all_day
Revises: 0010
Create Date: 2026-12-03 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_all_day"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("all_day", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("preferences") as batch:
        batch.add_column(sa.Column("all_day_reminder_time", sa.String(5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("preferences") as batch:
        batch.drop_column("all_day_reminder_time")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("all_day")
