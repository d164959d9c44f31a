"""The filter language on SQLite (embedded mode): the same compiled WHERE, tags read with json_each,
on a database migrated to head (0015_filter_indexes included)."""

from __future__ import annotations

import datetime as dt

import pytest

from functions.tasks.core.filters import Compiler
from functions.tasks.core.tasks import list_tasks
from functions.tasks.schemas.tasks import TaskQuery
from shared.domain.days import day_instant
from shared.domain.filter_language import parse
from shared.persistence.db import make_engine, make_sessionmaker, migrate
from shared.persistence.models import Task, TaskList, User

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def session(tmp_path):
    url = f"sqlite:///{tmp_path / 'filters.db'}"
    migrate(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


def test_queries_on_sqlite(session):
    session.add_all(
        [User(id="u", email="u@example.org", password_hash="x"), User(id="o", email="o@x.org", password_hash="x")]
    )
    session.flush()
    session.add_all([TaskList(id="l1", user_id="u", name="Work", color="#808080", archived=False, position=1.0)])
    session.add(TaskList(id="l2", user_id="o", name="Work", color="#808080", archived=False, position=1.0))
    session.flush()

    def task(title, user="u", **fields):
        session.add(Task(id=title, user_id=user, title=title, created_at=NOW, updated_at=NOW, **fields))

    task("waiting-today", tags=["waiting"], priority="urgent", due_date=NOW + dt.timedelta(hours=2))
    task("overdue-p1", tags=["x"], priority="urgent", due_date=NOW - dt.timedelta(days=1), list_id="l1")
    task("allday-today", tags=[], priority="high", due_date=day_instant(NOW.date()), all_day=True)
    task("nodate", tags=["waiting", "home"], priority="none")
    task("theirs", user="o", tags=["waiting"], priority="urgent", due_date=NOW, list_id="l2")
    session.flush()
    compiler = Compiler("u", "UTC", NOW, "sqlite")

    def titles(query):
        found, _ = list_tasks(session, "u", TaskQuery(), "UTC", compiler.where(parse(query)))
        return {t.title for t in found}

    assert titles("(today | overdue) & p1 & !@waiting") == {"overdue-p1"}
    assert titles("@waiting") == {"waiting-today", "nodate"}
    assert titles("!@waiting") == {"overdue-p1", "allday-today"}
    assert titles("today") == {"waiting-today", "allday-today"}
    assert titles("#work") == {"overdue-p1"}
    assert titles("no date | all-day") == {"nodate", "allday-today"}
    assert titles("!today") == {"overdue-p1", "nodate"}
