"""Alembic builds the whole schema from empty and takes it back down, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.persistence.db import downgrade, make_engine, migrate
from tests.support.pg import create_database, drop_database

TABLES = {
    "users",
    "tasks",
    "reminders",
    "outbox",
    "event_log",
    "preferences",
    "webhook_endpoints",
    "deliveries",
    "idempotency_keys",
    "calendar_feeds",
    "skipped_occurrences",
    "sections",
    "comments",
    "filters",
}


def schema(url: str) -> tuple[set[str], set[str]]:
    engine = make_engine(url)
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    indexes = {ix["name"] for t in tables for ix in inspector.get_indexes(t)}
    engine.dispose()
    return tables, indexes


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_db(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    url = create_database("taskflow_migrations")
    yield url
    drop_database(url)


def test_upgrade_from_empty_then_downgrade_to_empty(empty_db):
    assert schema(empty_db)[0] == set()
    migrate(empty_db)
    tables, indexes = schema(empty_db)
    assert TABLES <= tables
    assert {"ix_reminders_pending", "ix_tasks_next_occurrence", "ix_outbox_unpublished"} <= indexes
    downgrade(empty_db)
    assert schema(empty_db)[0] == set()
    migrate(empty_db)
    assert TABLES <= schema(empty_db)[0]


def test_partial_indexes_are_partial_on_postgresql():
    url = create_database("taskflow_migrations")
    try:
        migrate(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            defs = dict(
                conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='public'")).all()
            )
        engine.dispose()
        assert "WHERE (notified = false)" in defs["ix_reminders_pending"]
        assert "WHERE (published_at IS NULL)" in defs["ix_outbox_unpublished"]
        assert "WHERE ((next_occurrence IS NOT NULL) AND (completed = false))" in defs["ix_tasks_next_occurrence"]
    finally:
        drop_database(url)
