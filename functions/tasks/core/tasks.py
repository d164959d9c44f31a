"""Tasks: create, list, read, change, complete and delete them, each change with its event.

The first half is what the routes call (one function per route, each owning its unit of work and
returning the task as the API shows it); the second half the rules they share with the series
operations (functions.tasks.core.series), which run in the caller's unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from functions.tasks.core import filters, reminders, rows, sections, subtasks
from functions.tasks.schemas.paging import encode_cursor
from functions.tasks.schemas.tasks import TaskCreate, TaskPatch, TaskQuery, TaskUpdate, due_fields
from shared.concurrency.offload import offload
from shared.domain.changes import ChangeSet
from shared.domain.days import day_instant, first_day_from
from shared.domain.errors import Unauthorized, ValidationFailed
from shared.domain.recurrence import Rule
from shared.domain.rule_parsing import check_flood_guard, parse_rule
from shared.domain.times import BadValue, parse_datetime, zone
from shared.messaging.outbox import AccountGuard, add_event, insert_with_event
from shared.persistence.db import utcnow
from shared.persistence.models import EventLog, Task, TaskList
from shared.services import preferences, series
from shared.services.credentials import require_account
from shared.services.snapshots import NO_SUBTASKS, fields_view, snapshot, subtask_counts
from shared.services.tasks import (
    PLAIN_TASK_COLUMNS,
    bump_version,
    completion_event,
    created_event,
    deleted_event,
    new_task,
    new_task_row,
    record_update,
    row_created_event,
)

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

#: What a request must set for the general create path (a transaction, not the one-statement insert).
_SCHEDULING_FIELDS = frozenset(("recurrence_rule", "repeat_from", "reminders"))

# -- what the routes call ----------------------------------------------------------------------


def create(rt: Runtime, user_id: str, body: TaskCreate, account: AccountGuard | None = None) -> dict[str, Any]:
    """Create a task (optionally recurring, in a list, with reminders); return it as the API shows it.

    A plain task is one statement: the row and its task.created event inserted together, both built
    once from the body's fields (no ORM object), with only the columns a plain task sets.
    `account`: the request's account check when it is still to be done (id, session generation) —
    inside that statement for a plain task, else before anything is written (401 either way).
    """
    fields = _fields_in_the_users_zone(rt, user_id, body)
    if (
        _SCHEDULING_FIELDS & body.model_fields_set
        or body.list_id is not None
        or body.parent_task_id is not None
        or body.section_id is not None
    ):
        if account is not None:
            require_account(rt.engine, *account)
        return _create_scheduled(rt, user_id, body, fields)
    for unset in ("parent_task_id", "list_id", "section_id"):  # null when given: a plain task has none
        fields.pop(unset, None)
    row = new_task_row(user_id, now=utcnow(), **fields)
    row["dtstart_wall"] = gap_wall(body.due_date, row["due_date"], row["timezone"])
    event = row_created_event(row)
    try:
        written = insert_with_event(rt.engine, Task.__table__, row, event, PLAIN_TASK_COLUMNS, account)
    except sa.exc.IntegrityError:
        raise Unauthorized("This account no longer exists.") from None
    if not written and account is not None:  # the account is gone or was signed out everywhere: say which
        require_account(rt.engine, *account)
        raise Unauthorized("This session was signed out; sign in again.")
    rt.after_commit()
    return event.data


def page(rt: Runtime, user_id: str, query: TaskQuery) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the user's tasks, newest first, and the cursor of the next page (None: the last)."""
    tz = preferences.preferred_timezone(rt.engine, user_id) if query.due_before or query.due_after else "UTC"
    tree = filters.read(query.filter) if query.filter else None
    with rt.uow() as uow:
        condition = None if tree is None else filters.compiler(rt, uow.session, user_id).where(tree)
        found, next_cursor = list_tasks(uow.session, user_id, query, tz, condition)
        counts = subtask_counts(uow.session, [t.id for t in found])  # one grouped query for the page
        return [snapshot(t, counts.get(t.id, NO_SUBTASKS)) for t in found], next_cursor


def get(rt: Runtime, user_id: str, task_id: str) -> dict[str, Any]:
    """One of the user's tasks as the API shows it."""
    with rt.uow() as uow:
        return snapshot(get_task(uow.session, user_id, task_id))


def update(
    rt: Runtime, user_id: str, task_id: str, body: TaskUpdate, check_version: rows.VersionCheck
) -> dict[str, Any]:
    """Change the fields the body sets (task.updated when any changed)."""
    with editing(rt, user_id, task_id, check_version) as (session, task):
        update_task(session, task, body.given(task.timezone))
        if "due_date" in body.model_fields_set:
            _keep_gap_wall(task, body.due_date)
        shown = snapshot(task)
    return shown


def merge(rt: Runtime, user_id: str, task_id: str, patch: TaskPatch) -> dict[str, Any]:
    """Apply the fields a person changed since `base_version`, keeping what others changed meanwhile.

    A field conflicts when someone else changed it after base_version and the person's value is not
    the one it already has: then nothing is stored and the answer names each conflict (409).
    """
    with editing(rt, user_id, task_id) as (session, task):
        sent = patch.changes.model_fields_set
        changed = rows.changed_after(task, patch.base_version, sent)
        theirs = snapshot(task)
        given = patch.changes.given(task.timezone)
        completed = given.pop("completed", None)
        update_task(session, task, given)
        if "due_date" in given:
            _keep_gap_wall(task, patch.changes.due_date)
        if completed is not None:
            set_completed(session, task, completed)
        yours = snapshot(task)
        rows.refuse_conflicts(
            "task", sent, changed, theirs, yours, lambda: _snapshot_at(session, task.id, patch.base_version)
        )
        shown = snapshot(task)
    return shown


def _snapshot_at(session: orm.Session, task_id: str, version: int) -> dict[str, Any] | None:
    """The task as its event at `version` showed it (the audit log), if that event is still there."""
    rows_ = session.scalars(
        sa.select(EventLog.data).where(EventLog.aggregate_id == task_id).order_by(EventLog.id.desc()).limit(200)
    )
    return next((data for data in rows_ if data.get("version") == version), None)


def set_due_date(
    rt: Runtime, user_id: str, task_id: str, due_date: dt.date | dt.datetime | None, check_version: rows.VersionCheck
) -> dict[str, Any]:
    """Set or clear the due date (a wall-clock one read in the task's zone, a date alone all day)."""
    with editing(rt, user_id, task_id, check_version) as (session, task):
        due, all_day = due_fields(due_date, task.timezone)
        update_task(session, task, {"due_date": due, "all_day": all_day})
        _keep_gap_wall(task, due_date)
        shown = snapshot(task)
    return shown


def complete(
    rt: Runtime, user_id: str, task_id: str, completed: bool, check_version: rows.VersionCheck
) -> dict[str, Any]:
    """Complete or reopen a task and the sub-tasks that go with it (nothing changes when it already is)."""
    with editing(rt, user_id, task_id, check_version) as (session, task):
        set_completed(session, task, completed)
        shown = snapshot(task)
    return shown


def delete(rt: Runtime, user_id: str, task_id: str, check_version: rows.VersionCheck) -> None:
    """Delete a task (its reminders and sub-tasks go with it)."""
    with editing(rt, user_id, task_id, check_version) as (session, task):
        delete_task(session, task)


def editing(
    rt: Runtime, user_id: str, task_id: str, check_version: rows.VersionCheck | None = None
) -> AbstractContextManager[tuple[orm.Session, Task]]:
    """Lock one of the user's tasks, check its version, let the caller change it, commit (see rows.editing)."""
    return rows.editing(rt, Task, user_id, task_id, "task", check_version)


def _fields_in_the_users_zone(rt: Runtime, user_id: str, body: TaskCreate) -> dict[str, Any]:
    """The task's fields; without a `timezone`, the one in the user's preferences (set once, from the
    web app's first sign-in or PUT /preferences), else UTC. A wall-clock due date is read in it."""
    if "timezone" in body.model_fields_set:
        return body.given(body.timezone)
    tz = preferences.preferred_timezone(rt.engine, user_id)
    return {**body.given(tz), "timezone": tz}


def _create_scheduled(rt: Runtime, user_id: str, body: TaskCreate, fields: dict[str, Any]) -> dict[str, Any]:
    """The general create path: the task, its rule and its reminders in one transaction."""
    now = utcnow()
    parent_task_id = fields.pop("parent_task_id", None)
    task = new_task(user_id, now=now, **fields)
    task.parent_task_id = parent_task_id
    rule: Rule | None = None
    if body.recurrence_rule is not None:
        # A wall-clock due date starts the series as given: one in a DST gap keeps its wall-clock time.
        # An all-day one starts at the beginning of its day in the series' zone (its instances are all day).
        wall = _series_start(body.due_date)
        if "DTSTART" in body.recurrence_rule.upper():
            wall = None
        rule = parse_task_rule(body.recurrence_rule, task.timezone, wall, task.due_date or now)
    elif "repeat_from" in body.model_fields_set:
        raise ValidationFailed("repeat_from needs a recurrence_rule.", errors={"repeat_from": "needs recurrence_rule"})
    else:
        task.dtstart_wall = gap_wall(body.due_date, task.due_date, task.timezone)
    with rt.uow() as uow:
        subtasks.check_new_task(uow.session, task, rule is not None, list_given="list_id" in body.model_fields_set)
        check_list(uow.session, user_id, task.list_id)
        sections.check_section(uow.session, user_id, task.list_id, task.section_id)
        uow.session.add(task)
        uow.session.flush()
        if rule is not None:
            series.start_series(task, rule, body.repeat_from, now)
        for spec in body.reminders:
            reminders.add_reminder(uow.session, task, spec, now)
        uow.session.flush()
        add_event(uow.session, created_event(task))
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Unauthorized("This account no longer exists.") from None
    rt.wake("recurrence")
    rt.wake("reminders")
    return snapshot(task, NO_SUBTASKS)


def _series_start(due: dt.date | dt.datetime | None) -> dt.datetime | None:
    """The wall-clock start a due date gives a new series: its own (naive) time, or midnight of a date alone."""
    if due is None or isinstance(due, dt.datetime):
        return due if due is not None and due.tzinfo is None else None
    return dt.datetime.combine(due, dt.time())


def _keep_gap_wall(task: Task, given: dt.date | dt.datetime | None) -> None:
    """A plain task keeps the wall-clock time of a due date given in a DST gap (a series keeps its own start)."""
    if task.recurrence_rule is None:
        task.dtstart_wall = gap_wall(given, task.due_date, task.timezone)


# -- the rules, in the caller's unit of work ---------------------------------------------------


def get_task(session: orm.Session, user_id: str, task_id: str, *, for_update: bool = False) -> Task:
    """Load one of the user's tasks (another user's is not found)."""
    return rows.get_owned(session, Task, user_id, task_id, "task", for_update=for_update)


def parse_task_rule(text: str, tz: str, dtstart: dt.datetime | None, default_start: dt.datetime) -> Rule:
    """Parse a task's rule in its timezone, flood guard on; errors name recurrence_rule (and dtstart)."""

    def rule_with_guard() -> Rule:
        start = None if dtstart is None else dtstart.isoformat()  # naive: wall-clock time in tz
        rule = parse_rule(text, tz, start, default_start=default_start)
        check_flood_guard(rule)
        return rule

    try:
        # RRULE expansion is CPU work: on the bounded thread pool, so the worker's sockets keep moving.
        return offload(rule_with_guard)
    except BadValue as exc:
        errors = {"recurrence_rule": str(exc)}
        if dtstart is not None and "contradicts dtstart" in str(exc):
            errors["dtstart"] = "contradicts the DTSTART inside recurrence_rule"
        raise ValidationFailed("Some fields are invalid.", errors=errors) from None


def gap_wall(given: dt.date | dt.datetime | None, placed: dt.datetime | None, tz: str) -> dt.datetime | None:
    """A wall-clock due date (naive) that its placed instant does not show in `tz`: one in a DST gap."""
    if not isinstance(given, dt.datetime) or placed is None or given.tzinfo is not None:
        return None
    return given if placed.astimezone(zone(tz)).replace(tzinfo=None) != given else None


def due_wall(task: Task) -> dt.datetime | None:
    """The due date's wall-clock time when UTC cannot say it (a due date given in a DST gap), else None.

    Kept in tasks.dtstart_wall; it only counts while it still places at the due date, so a due
    date changed since (or a series started elsewhere) never drags a stale wall-clock time along.
    """
    wall, due = task.dtstart_wall, task.due_date
    if wall is None or due is None or task.dtstart not in (None, due):
        return None
    return wall if parse_datetime(wall.isoformat(), task.timezone) == due else None


def check_list(session: orm.Session, user_id: str, list_id: Any) -> None:
    """A task may only join one of its owner's open lists: another user's list id is a 422, never linked,
    and an archived list takes no new tasks (unarchive it first), as in Todoist."""
    if not isinstance(list_id, str):
        return
    archived = session.scalar(sa.select(TaskList.archived).where(TaskList.id == list_id, TaskList.user_id == user_id))
    if archived is None:
        raise ValidationFailed("No such list.", errors={"list_id": "no such list"})
    if archived:
        raise ValidationFailed("The list is archived: unarchive it to add tasks.", errors={"list_id": "is archived"})


def update_task(session: orm.Session, task: Task, given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply the given fields (TaskFields.given); emit task.updated with {field: {old, new}} when anything changed."""
    given = subtasks.placed(session, task, given)
    if given.get("list_id") != task.list_id:  # a task already in an archived list stays editable
        check_list(session, task.user_id, given.get("list_id"))
    given = _in_a_section_of_its_list(session, task, given)
    changes = ChangeSet(task, fields_view)  # compares fields: no counting query per look
    for field, value in given.items():
        changes.set(field, value)
    if "all_day" in changes:  # one field to the API: the same instant as a date alone (or back) is a new due date
        changes.compare(("due_date",))
    if "due_date" in changes:
        reminders.move_relative_reminders(session, task)
    record_update(session, task, changes)
    if "list_id" in changes:  # a parent takes its sub-tasks along
        subtasks.move_subtasks_to_list(session, task, task.updated_at)
    return changes.fields


def _in_a_section_of_its_list(session: orm.Session, task: Task, given: Mapping[str, Any]) -> Mapping[str, Any]:
    """A task's section is one of its (new) list's; moving it to another list without one clears its section."""
    list_id = given.get("list_id", task.list_id)
    if "section_id" in given:
        sections.check_section(session, task.user_id, list_id, given["section_id"])
    elif list_id != task.list_id and task.section_id is not None:
        return {**given, "section_id": None}
    return given


def set_completed(session: orm.Session, task: Task, completed: bool) -> bool:
    """Complete or reopen a task; completing cancels its pending reminders. Return whether it changed.

    Completing a parent completes its open sub-tasks at the same instant; reopening it reopens those
    (subtasks.to_complete / to_reopen); each has its own event, and the parent's names them (`cascade`).
    """
    if task.completed == completed:
        return False
    now = utcnow()
    cascade = subtasks.to_complete(session, task) if completed else subtasks.to_reopen(session, task)
    for sub in cascade:
        _set_completed_one(session, sub, completed, now)
    _set_completed_one(session, task, completed, now, cascade=[sub.id for sub in cascade])
    return True


def _set_completed_one(
    session: orm.Session, task: Task, completed: bool, now: dt.datetime, cascade: list[str] | None = None
) -> None:
    """Complete or reopen one task at `now` with its event (`cascade`: the sub-tasks that went with it)."""
    task.completed = completed
    task.completed_at = now if completed else None
    bump_version(task, ("completed", "completed_at"), now)
    if completed:
        reminders.cancel_pending_reminders(session, task.id, now)
    session.flush()
    if not completed:  # a reopened series rings again before its next occurrences
        series.arm_relative_reminders(session, task, now)
    add_event(session, completion_event(task, **({"cascade": cascade} if cascade else {})))
    if completed:
        series.spawn_after_completion(session, task, now)
    series.follow_instance_ahead(session, task, now)


def delete_task(session: orm.Session, task: Task) -> None:
    """Delete a task; deleting an instance of a scheduled series skips that occurrence for good."""
    if task.parent_id is not None and task.occurrence_at is not None:
        parent = session.get(Task, task.parent_id)
        if series.is_scheduled_series(parent):
            # Remembered, so it is never respawned and the calendar feed shows it as an EXDATE.
            series.record_skip(session, task.parent_id, task.occurrence_at, utcnow())
    for sub in subtasks.to_delete(session, task):  # each with its event, before the row it hangs from
        add_event(session, deleted_event(sub))
        session.delete(sub)
        session.flush()
    add_event(session, deleted_event(task))
    session.delete(task)
    session.flush()


def _has_tag(session: orm.Session, tag: str) -> sa.ColumnElement[bool]:
    """JSON containment: `@>` on PostgreSQL's JSONB, json_each on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.type_coerce(Task.tags, postgresql.JSONB).contains([tag])
    each = sa.func.json_each(Task.tags).table_valued("value")
    return sa.exists().where(each.c.value == tag)


def _due_compared(bound: dt.datetime, tz: str, before: bool) -> sa.ColumnElement[bool]:
    """A due date before (or at or after) `bound`; an all-day one counts from the start of its day in `tz`."""
    day = day_instant(first_day_from(bound, tz))
    if before:
        return sa.or_(
            sa.and_(Task.all_day.is_(False), Task.due_date < bound),
            sa.and_(Task.all_day.is_(True), Task.due_date < day),
        )
    return sa.or_(
        sa.and_(Task.all_day.is_(False), Task.due_date >= bound), sa.and_(Task.all_day.is_(True), Task.due_date >= day)
    )


def list_tasks(
    session: orm.Session,
    user_id: str,
    query: TaskQuery,
    tz: str = "UTC",
    condition: sa.ColumnElement[bool] | None = None,
) -> tuple[list[Task], str | None]:
    """List a user's tasks, newest first, with keyset pagination (`tz`: the person's, for all-day due dates;
    `condition`: a compiled filter, functions.tasks.core.filters)."""
    stmt = sa.select(Task).where(Task.user_id == user_id)
    if condition is not None:
        stmt = stmt.where(condition)
    if query.completed is not None:
        stmt = stmt.where(Task.completed.is_(query.completed))
    if query.due_before is not None:
        stmt = stmt.where(_due_compared(query.due_before, tz, before=True))
    if query.due_after is not None:
        stmt = stmt.where(_due_compared(query.due_after, tz, before=False))
    if query.priority is not None:
        stmt = stmt.where(Task.priority == query.priority)
    if query.q:
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(Task.title.ilike(pattern, escape="\\"), Task.description.ilike(pattern, escape="\\")))
    if query.tag:
        stmt = stmt.where(_has_tag(session, query.tag))
    if query.parent_task_id == "none":
        stmt = stmt.where(Task.parent_task_id.is_(None))
    elif query.parent_task_id is not None:
        stmt = stmt.where(Task.parent_task_id == query.parent_task_id)
    if query.list_id == "none":
        stmt = stmt.where(Task.list_id.is_(None))
    elif query.list_id is not None:
        stmt = stmt.where(Task.list_id == query.list_id)
    if query.cursor is not None:
        created_at, task_id = query.cursor
        stmt = stmt.where(
            sa.or_(Task.created_at < created_at, sa.and_(Task.created_at == created_at, Task.id < task_id))
        )
    stmt = stmt.order_by(Task.created_at.desc(), Task.id.desc()).limit(query.limit + 1)
    found = list(session.scalars(stmt))
    next_cursor = None
    if len(found) > query.limit:
        found = found[: query.limit]
        next_cursor = encode_cursor(found[-1].created_at, found[-1].id)
    return found, next_cursor
