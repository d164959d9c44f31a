"""Trace context: the W3C traceparent stored with each outbox row and each notification delivery.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(length=128), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("traceparent")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")
