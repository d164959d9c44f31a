"""A person's operations on recurring series: set or clear a task's rule, skip or complete one occurrence.

Spawning instances, passing over skips and arming a series' reminders are the recurrence sweep's
rules too, so they live in shared/services/series.py; this module only calls them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.core import reminders, rows, subtasks, tasks
from functions.tasks.schemas.series import Preview, RecurrenceSet
from shared.concurrency.offload import offload
from shared.domain.changes import ChangeSet
from shared.domain.days import stored_day
from shared.domain.errors import ValidationFailed
from shared.domain.recurrence import Rule
from shared.domain.rule_parsing import parse_rule
from shared.domain.times import BadValue, rfc3339
from shared.persistence.db import utcnow
from shared.persistence.models import Task
from shared.services import series
from shared.services.snapshots import snapshot
from shared.services.tasks import record_update
from shared.web.schemas import localize

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

RECURRENCE_FIELDS = ("recurrence_rule", "timezone", "repeat_from", "next_occurrence")
#: Skip or complete one occurrence of a series: (session, series or instance, occurrence or None, now) -> result.
OccurrenceAct = Callable[["orm.Session", Task, "dt.datetime | None", dt.datetime], dict[str, Any]]

# -- what the routes call ----------------------------------------------------------------------


def set_rule(
    rt: Runtime, user_id: str, task_id: str, body: RecurrenceSet, check_version: rows.VersionCheck
) -> dict[str, Any]:
    """Make a task recur (RFC 5545 RRULE in its IANA zone), or change its rule; return the series."""
    with tasks.editing(rt, user_id, task_id, check_version) as (session, task):
        now = utcnow()
        tz = body.timezone or task.timezone
        dtstart = body.dtstart
        if dtstart is None and tz == task.timezone and "DTSTART" not in body.recurrence_rule.upper():
            # A due date given in a DST gap keeps its wall-clock time, as on the create route.
            dtstart = tasks.due_wall(task)
            if task.all_day and task.due_date is not None:  # an all-day series starts at the beginning of its day
                dtstart = dt.datetime.combine(stored_day(task.due_date), dt.time())
        rule = tasks.parse_task_rule(body.recurrence_rule, tz, dtstart, task.due_date or now)
        apply_rule(session, task, rule, body.repeat_from, now)
    rt.wake("recurrence")
    return series_view(task)


def clear_rule(rt: Runtime, user_id: str, task_id: str) -> None:
    """Stop a task recurring (instances already spawned stay)."""
    with tasks.editing(rt, user_id, task_id) as (session, task):
        remove_rule(session, task)


def skip(
    rt: Runtime, user_id: str, task_id: str, occurrence_at: dt.datetime | None, check_version: rows.VersionCheck
) -> dict[str, Any]:
    """Skip an occurrence for good (never spawned again, an EXDATE in the calendar feed); see skip_occurrence."""
    return _on_occurrence(rt, user_id, task_id, occurrence_at, check_version, skip_occurrence)


def complete_occurrence(
    rt: Runtime, user_id: str, task_id: str, occurrence_at: dt.datetime | None, check_version: rows.VersionCheck
) -> dict[str, Any]:
    """Tick one occurrence of a series as Todoist does: it is done, the series stays open; see tick_occurrence."""
    return _on_occurrence(rt, user_id, task_id, occurrence_at, check_version, tick_occurrence)


def _on_occurrence(
    rt: Runtime,
    user_id: str,
    task_id: str,
    occurrence_at: dt.datetime | None,
    check_version: rows.VersionCheck,
    act: OccurrenceAct,
) -> dict[str, Any]:
    """Skip or complete one occurrence (`occurrence_at` in the series' zone, default its next) and commit."""
    with tasks.editing(rt, user_id, task_id, check_version) as (session, task):
        occurrence = None if occurrence_at is None else localize(occurrence_at, task.timezone, "occurrence_at")
        result = act(session, task, occurrence, utcnow())
    rt.wake("recurrence")
    rt.wake("reminders")
    return result


def list_recurring(rt: Runtime, user_id: str) -> list[dict[str, Any]]:
    """The user's recurring series, soonest next occurrence first (those with none last)."""
    with rt.uow() as uow:
        found = uow.session.scalars(
            sa.select(Task)
            .where(Task.user_id == user_id, Task.recurrence_rule.is_not(None), Task.parent_id.is_(None))
            .order_by(Task.next_occurrence.is_(None), Task.next_occurrence, Task.id)
        )
        return [series_view(t) for t in found]


def preview(body: Preview) -> list[dt.datetime]:
    """Expand any valid rule: the occurrences at or after `after` (default now), at most `count`."""
    tz = body.timezone
    after = utcnow() if body.after is None else localize(body.after, tz, "after")
    dtstart = None if body.dtstart is None else body.dtstart.isoformat()  # naive: wall-clock time in tz
    try:
        # RRULE expansion is CPU work: on the bounded thread pool, so the worker's sockets keep moving.
        rule = offload(parse_rule, body.recurrence_rule, tz, dtstart)
    except BadValue as exc:
        raise ValidationFailed("Some fields are invalid.", errors={"recurrence_rule": str(exc)}) from None
    return offload(rule.occurrences, after, body.count)


def series_view(task: Task) -> dict[str, Any]:
    """A series as the recurrence routes show it."""
    return {
        "id": task.id,
        "title": task.title,
        "recurrence_rule": task.recurrence_rule,
        "timezone": task.timezone,
        "repeat_from": task.repeat_from,
        "next_occurrence": rfc3339(task.next_occurrence, task.timezone),
    }


# -- the rules, in the caller's unit of work ---------------------------------------------------


def apply_rule(session: orm.Session, task: Task, rule: Rule, repeat_from: str, now: dt.datetime) -> None:
    """Make a task a series (or change its rule); its next occurrence is the first at or after now."""
    if task.parent_id is not None:
        raise ValidationFailed(
            "An instance of a recurring series cannot have its own rule.",
            errors={"recurrence_rule": "this task is an instance of a series"},
        )
    if task.parent_task_id is not None or subtasks.levels_below(session, task.id):
        raise ValidationFailed(
            "A sub-task or a task with sub-tasks cannot recur.",
            errors={"recurrence_rule": "the task is in a sub-task tree"},
        )
    changes = ChangeSet(task, snapshot)
    was_scheduled = series.is_scheduled_series(task)
    skipped = series.skipped_occurrences(session, [task.id], since=now)[task.id]
    series.start_series(task, rule, repeat_from, now, skipped)
    if series.is_scheduled_series(task):
        series.arm_relative_reminders(session, task, now, anew=True)
    elif was_scheduled:  # now "every!": its reminders follow the due date, copied to each instance
        reminders.move_relative_reminders(session, task, now=now)
    changes.compare(RECURRENCE_FIELDS)
    record_update(session, task, changes)


def remove_rule(session: orm.Session, task: Task) -> None:
    """Make a series a plain task again, due when it was."""
    changes = ChangeSet(task, snapshot)
    task.dtstart_wall = tasks.due_wall(task)  # a due date in a DST gap keeps its wall-clock time
    task.recurrence_rule = None
    task.dtstart = None
    task.next_occurrence = None
    task.repeat_from = "schedule"
    # A plain task again: its relative reminders follow its due date (one already past rests).
    reminders.move_relative_reminders(session, task, now=utcnow())
    changes.compare(RECURRENCE_FIELDS)
    record_update(session, task, changes)


def skip_occurrence(
    session: orm.Session, task: Task, occurrence: dt.datetime | None, now: dt.datetime
) -> dict[str, Any]:
    """Skip one occurrence of a series: given an instance, that instance; given the series, `occurrence`
    (default: its next one), deleting its instance if it spawned already.

    An instance of a `repeat_from=completion` series is deleted and the next one spawned, one rule
    step from now, as completing it would. Otherwise the skip is recorded (never respawned, an
    EXDATE in the calendar feed), the series' next occurrence passes over it, and events tell
    sockets and audit: task.deleted for a deleted instance, task.updated on the series (with
    `skipped_occurrence`) for one not spawned yet.
    """
    if task.parent_id is not None:
        if task.occurrence_at is None or (occurrence is not None and occurrence != task.occurrence_at):
            raise ValidationFailed(
                "Skip an instance as it is, or another occurrence through its series.",
                errors={"occurrence_at": "is not this instance's occurrence"},
            )
        parent = session.get(Task, task.parent_id, with_for_update=True)
        occurrence = task.occurrence_at
        tasks.delete_task(session, task)  # records the skip
        if parent is not None and parent.recurrence_rule and parent.repeat_from == "completion":
            # An "every!" series moves on when its instance is done; skipping it moves on the same way.
            series.spawn_after_completion(session, task, now)
        return _skip_result(parent, task.parent_id, occurrence, task.id)
    occurrence = _occurrence_of(task, occurrence, "has occurrences to skip")
    spawned = session.scalars(
        sa.select(Task).where(Task.parent_id == task.id, Task.occurrence_at == occurrence)
    ).first()
    if spawned is not None:
        if spawned.completed:  # skipping would delete a completion
            raise ValidationFailed(
                "That occurrence is done: reopen it to skip it.", errors={"occurrence_at": "is completed"}
            )
        tasks.delete_task(session, spawned)  # records the skip
        if task.next_occurrence == occurrence:  # spawned ahead (ticked, then reopened): the series moves on
            _move_past(session, task, occurrence, now)
        return _skip_result(task, task.id, occurrence, spawned.id)
    skipped = series.skipped_occurrences(session, [task.id], since=min(now, occurrence))[task.id]
    if occurrence in skipped:
        return _skip_result(task, task.id, occurrence, None)  # skipped before: nothing changes
    if series.over_skip_cap(skipped, occurrence, now):
        raise ValidationFailed(
            f"At most {series.MAX_SKIPPED_AHEAD} occurrences ahead can be skipped; stop or change the rule instead.",
            errors={"occurrence_at": "too many skipped occurrences ahead"},
        )
    series.record_skip(session, task.id, occurrence, now)
    changes = ChangeSet(task, snapshot)
    if task.next_occurrence == occurrence:
        task.next_occurrence = series.next_to_do(session, task, occurrence, now)
    series.arm_relative_reminders(session, task, now, anew=True)  # an alarm set for the skipped occurrence moves on
    changes.compare(("next_occurrence",))
    record_update(session, task, changes, skipped_occurrence=rfc3339(occurrence, task.timezone))
    return _skip_result(task, task.id, occurrence, None)


def tick_occurrence(
    session: orm.Session, task: Task, occurrence: dt.datetime | None, now: dt.datetime
) -> dict[str, Any]:
    """Todoist's tick on a recurring task: its next (or given) occurrence is done and the series moves on.

    The occurrence's instance is completed, spawned for it first when its time has not come (one
    per occurrence, as the sweep's); the series stays open with `next_occurrence` past it, and its
    reminders pass over it. Events: recurring.spawned, task.completed, task.updated on the series.
    """
    if task.completed:
        raise ValidationFailed("The series is completed: reopen it first.", errors={"task": "is completed"})
    occurrence = _occurrence_of(task, occurrence, "completes one occurrence (complete an instance itself)")
    skipped = series.skipped_occurrences(session, [task.id], since=min(now, occurrence))[task.id]
    if occurrence in skipped:
        raise ValidationFailed("That occurrence was skipped.", errors={"occurrence_at": "skipped"})
    series.spawn_instance(session, task, occurrence, now)  # nothing when it spawned already
    instance = session.scalars(sa.select(Task).where(Task.parent_id == task.id, Task.occurrence_at == occurrence)).one()
    tasks.set_completed(session, instance, True)  # one ahead of now also moves the series on and its alarms
    if occurrence <= now and task.next_occurrence == occurrence:  # due, not spawned yet: the same here
        _move_past(session, task, occurrence, now)
    return {
        "series_id": task.id,
        "occurrence_at": rfc3339(occurrence, task.timezone),
        "instance_id": instance.id,
        "next_occurrence": rfc3339(task.next_occurrence, task.timezone),
    }


def _move_past(session: orm.Session, task: Task, occurrence: dt.datetime, now: dt.datetime) -> None:
    """The occurrence is done or skipped: the series' next is the one after it still to do, its alarms follow."""
    changes = ChangeSet(task, snapshot)
    task.next_occurrence = series.next_to_do(session, task, occurrence, now)
    series.arm_relative_reminders(session, task, now, anew=True)
    changes.compare(("next_occurrence",))
    record_update(session, task, changes)


def _occurrence_of(task: Task, occurrence: dt.datetime | None, what: str) -> dt.datetime:
    """The occurrence of the series meant (default: its next one); 422 unless it is one."""
    if not series.is_scheduled_series(task):
        raise ValidationFailed(
            f"Only a recurring series on a fixed schedule {what}.",
            errors={"task": "is not a series on a schedule (repeat_from=schedule)"},
        )
    rule = series.rule_of(task)
    occurrence = occurrence or task.next_occurrence
    if occurrence is None:
        raise ValidationFailed("The series has no next occurrence.", errors={"occurrence_at": "none left"})
    if not offload(rule.is_occurrence, occurrence):
        raise ValidationFailed(
            "Not an occurrence of the series.", errors={"occurrence_at": "not an occurrence of the rule"}
        )
    return occurrence


def _skip_result(parent: Task | None, series_id: str, occurrence: dt.datetime, deleted: str | None) -> dict[str, Any]:
    """What a skip answers: the series, the occurrence, the instance deleted (if any), the series' next."""
    tz = parent.timezone if parent is not None else "UTC"
    return {
        "series_id": series_id,
        "occurrence_at": rfc3339(occurrence, tz),
        "deleted_instance_id": deleted,
        "next_occurrence": None if parent is None else rfc3339(parent.next_occurrence, tz),
    }
