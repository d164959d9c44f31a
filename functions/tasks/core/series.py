"""Recurrence rules and reminders of tasks: handlers that change rows and stage events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from functions.tasks.core.tasks import delete_task, emit, get_owned, move_relative_reminders, set_completed
from functions.tasks.schemas.tasks import ReminderSpec
from shared.concurrency.offload import offload
from shared.domain import events
from shared.domain.errors import ValidationFailed
from shared.domain.recurrence import Rule, check_flood_guard, parse_rule
from shared.domain.times import BadValue, parse_datetime, rfc3339, zone
from shared.persistence.db import utcnow
from shared.persistence.models import Reminder, Task, new_id
from shared.services import series
from shared.services.snapshots import snapshot
from shared.web.schemas import localize

RECURRENCE_FIELDS = ("recurrence_rule", "timezone", "repeat_from", "next_occurrence")


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


def set_recurrence(session: orm.Session, task: Task, rule: Rule, repeat_from: str, now: dt.datetime) -> None:
    """Make a task a series (or change its rule); its next occurrence is the first at or after now."""
    if task.parent_id is not None:
        raise ValidationFailed(
            "An instance of a recurring series cannot have its own rule.",
            errors={"recurrence_rule": "this task is an instance of a series"},
        )
    before = snapshot(task)
    was_scheduled = series.is_scheduled_series(task)
    task.recurrence_rule = rule.text
    task.timezone = rule.timezone
    task.dtstart = rule.dtstart
    task.dtstart_wall = rule.wall
    task.repeat_from = repeat_from
    skipped = series.skipped_occurrences(session, [task.id], since=now)[task.id]
    task.next_occurrence = series.next_kept(rule, now, skipped, inclusive=True)
    if series.is_scheduled_series(task):
        series.arm_relative_reminders(session, task, now, anew=True)
    elif was_scheduled:  # now "every!": its reminders follow the due date, copied to each instance
        move_relative_reminders(session, task, now=now)
    _updated(session, task, before, RECURRENCE_FIELDS)


def due_wall(task: Task) -> dt.datetime | None:
    """The due date's wall-clock time when UTC cannot say it (a due date given in a DST gap), else None.

    Kept in tasks.dtstart_wall; it only counts while it still places at the due date, so a due
    date changed since (or a series started elsewhere) never drags a stale wall-clock time along.
    """
    wall, due = task.dtstart_wall, task.due_date
    if wall is None or due is None or task.dtstart not in (None, due):
        return None
    return wall if parse_datetime(wall.isoformat(), task.timezone) == due else None


def gap_wall(given: dt.datetime | None, placed: dt.datetime | None, tz: str) -> dt.datetime | None:
    """A wall-clock due date (naive) that its placed instant does not show in `tz`: one in a DST gap."""
    if given is None or placed is None or given.tzinfo is not None:
        return None
    return given if placed.astimezone(zone(tz)).replace(tzinfo=None) != given else None


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
        delete_task(session, task)  # records the skip
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
        delete_task(session, spawned)  # records the skip
        if task.next_occurrence == occurrence:  # spawned ahead (ticked, then reopened): the series moves on
            before = snapshot(task)
            task.next_occurrence = series.next_to_do(session, task, occurrence, now)
            series.arm_relative_reminders(session, task, now, anew=True)
            _updated(session, task, before, ("next_occurrence",))
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
    before = snapshot(task)
    if task.next_occurrence == occurrence:
        task.next_occurrence = series.next_to_do(session, task, occurrence, now)
    series.arm_relative_reminders(session, task, now, anew=True)  # an alarm set for the skipped occurrence moves on
    after = snapshot(task)
    task.version += 1
    task.updated_at = utcnow()
    session.flush()
    changes = {f: {"old": before[f], "new": after[f]} for f in ("next_occurrence",) if before[f] != after[f]}
    emit(session, events.TASK_UPDATED, task, changes=changes, skipped_occurrence=rfc3339(occurrence, task.timezone))
    return _skip_result(task, task.id, occurrence, None)


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
    if offload(rule.occurrences, occurrence, 1) != [occurrence]:
        raise ValidationFailed(
            "Not an occurrence of the series.", errors={"occurrence_at": "not an occurrence of the rule"}
        )
    return occurrence


def complete_occurrence(
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
    set_completed(session, instance, True)  # one ahead of now also moves the series on and its alarms
    if occurrence <= now and task.next_occurrence == occurrence:  # due, not spawned yet: the same here
        before = snapshot(task)
        task.next_occurrence = series.next_to_do(session, task, occurrence, now)
        series.arm_relative_reminders(session, task, now, anew=True)
        _updated(session, task, before, ("next_occurrence",))
    return {
        "series_id": task.id,
        "occurrence_at": rfc3339(occurrence, task.timezone),
        "instance_id": instance.id,
        "next_occurrence": rfc3339(task.next_occurrence, task.timezone),
    }


def _skip_result(parent: Task | None, series_id: str, occurrence: dt.datetime, deleted: str | None) -> dict[str, Any]:
    tz = parent.timezone if parent is not None else "UTC"
    return {
        "series_id": series_id,
        "occurrence_at": rfc3339(occurrence, tz),
        "deleted_instance_id": deleted,
        "next_occurrence": None if parent is None else rfc3339(parent.next_occurrence, tz),
    }


def clear_recurrence(session: orm.Session, task: Task) -> None:
    before = snapshot(task)
    task.dtstart_wall = due_wall(task)  # a due date in a DST gap keeps its wall-clock time
    task.recurrence_rule = None
    task.dtstart = None
    task.next_occurrence = None
    task.repeat_from = "schedule"
    # A plain task again: its relative reminders follow its due date (one already past rests).
    move_relative_reminders(session, task, now=utcnow())
    _updated(session, task, before, RECURRENCE_FIELDS)


def _updated(session: orm.Session, task: Task, before: dict[str, Any], fields: Iterable[str]) -> None:
    after = snapshot(task)
    changes = {f: {"old": before[f], "new": after[f]} for f in fields if before[f] != after[f]}
    if changes:
        task.version += 1
        task.updated_at = utcnow()
        session.flush()
        emit(session, events.TASK_UPDATED, task, changes=changes)


def list_series(session: orm.Session, user_id: str) -> list[Task]:
    return list(
        session.scalars(
            sa.select(Task)
            .where(Task.user_id == user_id, Task.recurrence_rule.is_not(None), Task.parent_id.is_(None))
            .order_by(Task.next_occurrence.is_(None), Task.next_occurrence, Task.id)
        )
    )


def resolve_reminder(task: Task, spec: ReminderSpec, now: dt.datetime) -> tuple[dt.datetime, int | None]:
    """Turn a spec into an absolute time; refuse times in the past and relative ones without a due date."""
    if spec.minutes_before is not None:
        if task.due_date is None:
            raise ValidationFailed(
                "A relative reminder needs the task to have a due date.",
                errors={"minutes_before": "the task has no due date"},
            )
        remind_at = task.due_date - dt.timedelta(minutes=spec.minutes_before)
        field = "minutes_before"
    elif spec.remind_at is not None:
        remind_at, field = localize(spec.remind_at, task.timezone, "remind_at"), "remind_at"
    else:  # the parser gives exactly one of the two
        raise ValueError("a reminder spec without remind_at or minutes_before")
    if remind_at <= now:
        raise ValidationFailed("A reminder must be in the future.", errors={field: "is in the past"})
    return remind_at, spec.minutes_before


def _series_alarm(session: orm.Session, task: Task, minutes_before: int, now: dt.datetime) -> dt.datetime:
    """A series rings a relative reminder before each occurrence: the first alarm still ahead.

    "1 day before" on a monthly series added on the last day before the 1st is not refused: it
    rings first before the following month's occurrence.
    """
    taken = {r.remind_at for r in task.reminders}
    alarm = series.first_alarm(session, task, minutes_before, now, taken)
    if alarm is None:
        raise ValidationFailed(
            "The series has no occurrence left to remind of.", errors={"minutes_before": "no occurrence ahead"}
        )
    return alarm


def add_reminder(session: orm.Session, task: Task, spec: ReminderSpec, now: dt.datetime) -> tuple[Reminder, bool]:
    """Add a reminder; the same task and time twice returns the existing one (created=False)."""
    if task.completed:
        raise ValidationFailed("A completed task gets no reminders.", errors={"task": "is completed"})
    minutes: int | None
    if spec.minutes_before is not None and series.is_scheduled_series(task):
        same = [r for r in task.reminders if r.minutes_before == spec.minutes_before]
        if same:  # a series' relative reminder is one per lead, wherever its alarm stands now
            return same[0], False
        remind_at, minutes = _series_alarm(session, task, spec.minutes_before, now), spec.minutes_before
    else:
        remind_at, minutes = resolve_reminder(task, spec, now)
    existing = session.scalars(
        sa.select(Reminder).where(Reminder.task_id == task.id, Reminder.remind_at == remind_at)
    ).one_or_none()
    if existing is not None:
        return existing, False
    reminder = Reminder(
        id=new_id(),
        task_id=task.id,
        user_id=task.user_id,
        remind_at=remind_at,
        minutes_before=minutes,
        notified=False,
        created_at=now,
    )
    task.reminders.append(reminder)  # (the next reminder added in this unit of work sees it)
    session.flush()
    return reminder, True


def get_reminder(session: orm.Session, user_id: str, reminder_id: str) -> Reminder:
    return get_owned(session, Reminder, user_id, reminder_id, "reminder")


def pending_reminders(session: orm.Session, user_id: str) -> list[tuple[Reminder, Task]]:
    return list(
        session.execute(
            sa.select(Reminder, Task)
            .join(Task, Task.id == Reminder.task_id)
            .where(Reminder.user_id == user_id, Reminder.notified.is_(False))
            .order_by(Reminder.remind_at, Reminder.id)
        ).all()
    )
