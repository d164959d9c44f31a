"""users.session_generation (sign out everywhere) and calendar_feeds.seed (the feed link shown again).

A token or session cookie names the generation it was issued in; "sign out everywhere" bumps the
account's generation, so every earlier one is refused (401). A feed's token is an HMAC of `seed`
with the server's secret: the link can be shown again, and the database alone still does not reveal it.

Revision ID: 0012
Revises: 0014_organise (on main after 0011_all_day; written on top of 0010)
Create Date: 2026-12-03 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0014_organise"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("calendar_feeds") as batch:
        batch.add_column(sa.Column("seed", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_feeds") as batch:
        batch.drop_column("seed")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
