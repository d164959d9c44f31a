"""The filter language evaluated by the database, and saved filters (Todoist's filter views).

`where` compiles a query's tree (shared.domain.filter_language) into ONE SQL condition on tasks,
so a filter is one indexed query, never a scan in Python. Days begin and end in the person's zone;
an all-day task counts by its date. Saved filters are rows of `filters`, each change with its
filter.* event through the outbox, like lists.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from functions.tasks.core import rows
from functions.tasks.schemas.filters import FilterCreate, FilterUpdate
from shared.domain import events
from shared.domain import filter_language as fl
from shared.domain.days import day_instant, local_day, start_of_day
from shared.domain.errors import NotFound, Unauthorized, ValidationFailed
from shared.domain.events import Event
from shared.domain.times import rfc3339
from shared.messaging.outbox import add_event
from shared.persistence.db import utcnow
from shared.persistence.models import SavedFilter, Task, TaskList, new_id
from shared.services import preferences

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

MAX_FILTERS = 150

# -- the language, compiled --------------------------------------------------------------------


def read(query: str, field: str = "filter") -> fl.Node:
    """Parse a query; one that does not read is a 422 naming the offset and what was expected."""
    try:
        return fl.parse(query)
    except fl.FilterError as exc:
        raise ValidationFailed(
            f"The filter does not read: {exc}.",
            errors={field: str(exc)},
            extensions={"position": exc.position, "expected": exc.expected},
        ) from None


class Compiler:
    """Compiles trees for one user at one moment in their zone (`dialect`: how tags are matched)."""

    def __init__(self, user_id: str, tz: str, now: dt.datetime, dialect: str):
        self.user_id = user_id
        self.tz = tz
        self.now = now
        self.dialect = dialect
        self.today = local_day(now, tz)

    def where(self, node: fl.Node) -> sa.ColumnElement[bool]:
        if isinstance(node, fl.Or):
            return sa.or_(*(self.where(item) for item in node.items))
        if isinstance(node, fl.And):
            return sa.and_(*(self.where(item) for item in node.items))
        if isinstance(node, fl.Not):  # a term on a NULL column is unknown, not false: NOT must still hold
            return sa.not_(sa.func.coalesce(self.where(node.item), sa.false()))
        return self._term(node)

    def _term(self, term: fl.Term) -> sa.ColumnElement[bool]:  # noqa: PLR0911 (one branch per kind)
        kind, value = term.kind, term.value
        if kind == "today":
            return self._days(self.today, 1)
        if kind == "tomorrow":
            return self._days(self.today + dt.timedelta(days=1), 1)
        if kind == "days":
            return self._days(self.today, int(value or 1))
        if kind == "overdue":
            return sa.or_(
                sa.and_(Task.all_day.is_(False), Task.due_date < self.now),
                sa.and_(Task.all_day.is_(True), Task.due_date < day_instant(self.today)),
            )
        if kind == "no_date":
            return Task.due_date.is_(None)
        if kind == "priority":
            matched = fl.PRIORITIES[str(value)]
            return Task.priority == matched[0] if len(matched) == 1 else Task.priority.in_(matched)
        if kind == "no_priority":
            return Task.priority == "none"
        if kind == "list":
            named = sa.select(TaskList.id).where(
                TaskList.user_id == self.user_id, sa.func.lower(TaskList.name) == str(value).lower()
            )
            return Task.list_id.in_(named.scalar_subquery())
        if kind == "no_list":
            return Task.list_id.is_(None)
        if kind == "tag":
            return self._tag(str(value))
        if kind == "search":
            pattern = "%" + str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            return sa.or_(Task.title.ilike(pattern, escape="\\"), Task.description.ilike(pattern, escape="\\"))
        if kind == "recurring":
            return sa.or_(
                Task.recurrence_rule.is_not(None), sa.and_(Task.parent_id.is_not(None), Task.occurrence_at.is_not(None))
            )
        if kind == "subtask":
            return Task.parent_task_id.is_not(None)
        if kind == "all_day":
            return Task.all_day.is_(True)
        raise AssertionError(kind)  # the parser reads no other kind

    def _days(self, first: dt.date, count: int) -> sa.ColumnElement[bool]:
        """Due on `count` days from `first` in the person's zone (an all-day task by its date)."""
        end = first + dt.timedelta(days=count)
        return sa.or_(
            sa.and_(
                Task.all_day.is_(False),
                Task.due_date >= start_of_day(first, self.tz),
                Task.due_date < start_of_day(end, self.tz),
            ),
            sa.and_(Task.all_day.is_(True), Task.due_date >= day_instant(first), Task.due_date < day_instant(end)),
        )

    def _tag(self, tag: str) -> sa.ColumnElement[bool]:
        """JSON containment: `@>` on PostgreSQL's JSONB (its GIN index), json_each on SQLite."""
        if self.dialect == "postgresql":
            return sa.type_coerce(Task.tags, postgresql.JSONB).contains([tag])
        each = sa.func.json_each(Task.tags).table_valued("value")
        return sa.exists().where(each.c.value == tag)


def compiler(rt: Runtime, session: orm.Session, user_id: str) -> Compiler:
    """A compiler for the user now, in their zone (their preferences, else UTC)."""
    tz = preferences.preferred_timezone(rt.engine, user_id)
    return Compiler(user_id, tz, utcnow(), session.get_bind().dialect.name)


# -- saved filters: what the routes call -------------------------------------------------------


def index(rt: Runtime, user_id: str) -> list[dict[str, Any]]:
    """The saved filters in order, each with its count of open tasks (one query per filter)."""
    with rt.uow() as uow:
        session = uow.session
        saved = list(
            session.scalars(
                sa.select(SavedFilter)
                .where(SavedFilter.user_id == user_id)
                .order_by(SavedFilter.position, SavedFilter.created_at)
            )
        )
        compile_ = compiler(rt, session, user_id)
        out = []
        for row in saved:
            try:
                condition = compile_.where(fl.parse(row.query))
            except fl.FilterError:  # saved before the language changed: shown, counted as nothing
                out.append(view(row, 0))
                continue
            count = session.scalar(
                sa.select(sa.func.count())
                .select_from(Task)
                .where(Task.user_id == user_id, Task.completed.is_(False), condition)
            )
            out.append(view(row, count or 0))
        return out


def create(rt: Runtime, user_id: str, body: FilterCreate) -> dict[str, Any]:
    """Save a filter at the end (its query must read); filter.created."""
    read(body.query, "query")
    with rt.uow() as uow:
        session = uow.session
        count = session.scalar(
            sa.select(sa.func.count()).select_from(SavedFilter).where(SavedFilter.user_id == user_id)
        )
        if (count or 0) >= MAX_FILTERS:
            raise ValidationFailed(f"At most {MAX_FILTERS} filters.", errors={"name": "too many filters"})
        last = session.scalar(sa.select(sa.func.max(SavedFilter.position)).where(SavedFilter.user_id == user_id))
        now = utcnow()
        row = SavedFilter(
            id=new_id(),
            user_id=user_id,
            name=body.name,
            query=body.query,
            color=body.color,
            position=body.position if body.position is not None else (last or 0) + 1,
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        _emit(session, events.FILTER_CREATED, row)
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Unauthorized("This account no longer exists.") from None
        return view(row)


def update(rt: Runtime, user_id: str, filter_id: str, body: FilterUpdate) -> dict[str, Any]:
    """Rename, re-query, recolour or move a saved filter; filter.updated with {field: {old, new}}."""
    given = body.given()
    if given.get("query") is not None:
        read(given["query"], "query")
    with rt.uow() as uow:
        session = uow.session
        row = _owned(session, user_id, filter_id)
        changes = rows.apply_fields(session, row, view, given)
        if changes:
            _emit(session, events.FILTER_UPDATED, row, changes=changes.fields)
        uow.commit()
        return view(row)


def delete(rt: Runtime, user_id: str, filter_id: str) -> None:
    """Delete a saved filter (its tasks are untouched); filter.deleted."""
    with rt.uow() as uow:
        session = uow.session
        row = _owned(session, user_id, filter_id)
        _emit(session, events.FILTER_DELETED, row, deleted=True)
        session.delete(row)
        uow.commit()


# -- the rules ---------------------------------------------------------------------------------


def view(row: SavedFilter, count: int | None = None) -> dict[str, Any]:
    """A saved filter as the API and its events show it (`count` of open tasks in GET …/filters)."""
    out: dict[str, Any] = {
        "id": row.id,
        "user_id": row.user_id,
        "name": row.name,
        "query": row.query,
        "color": row.color,
        "position": row.position,
        "version": row.version,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }
    if count is not None:
        out["count"] = count
    return out


def _owned(session: orm.Session, user_id: str, filter_id: str) -> SavedFilter:
    """One of the user's saved filters, locked; another user's is not found (404)."""
    row = session.scalars(
        sa.select(SavedFilter).where(SavedFilter.id == filter_id, SavedFilter.user_id == user_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound("No such filter.")
    return row


def _emit(session: orm.Session, event_type: str, row: SavedFilter, **extra: Any) -> None:
    """Stage a filter event: the filter as the API shows it after the change, plus what the change adds."""
    add_event(
        session, Event(event_type=event_type, user_id=row.user_id, aggregate_id=row.id, data={**view(row), **extra})
    )
