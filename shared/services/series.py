"""Recurring series: the rules the recurrence sweep and a person's operations on a series share.

Spawning one instance per (series, occurrence) and moving the series on (the recurrence sweep); where
a new series starts (start_series); what completing an instance does to its series (the next
instance of a `repeat_from=completion` series; a scheduled series following an instance ticked
ahead); skipped occurrences; and arming a series' relative reminders before each occurrence. A
person's operations (set or clear a rule, skip, complete one occurrence) are functions.tasks.core.series.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from shared.concurrency.offload import offload
from shared.domain.changes import ChangeSet
from shared.domain.days import local_day, start_of_day
from shared.domain.recurrence import Rule, UnusableRule
from shared.messaging.outbox import outbox_values
from shared.persistence.models import Outbox, Reminder, SkippedOccurrence, Task
from shared.services.day_clock import day_clock, remind_before
from shared.services.snapshots import snapshot
from shared.services.tasks import instance_of, new_reminder, record_update, spawned_event

log = logging.getLogger(__name__)

#: How many not-yet-reached occurrences one series may have skipped (keeps next_kept bounded).
MAX_SKIPPED_AHEAD = 100


def rule_of(series: Task) -> Rule:
    """The series' stored rule as a Rule."""
    if series.recurrence_rule is None or series.dtstart is None:
        raise ValueError(f"task {series.id} is not a recurring series")
    return Rule(text=series.recurrence_rule, timezone=series.timezone, dtstart=series.dtstart, wall=series.dtstart_wall)


def _insert_ignoring_duplicates(
    session: orm.Session, table: sa.Table = Task.__table__
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can skip rows a unique constraint already holds (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


def is_scheduled_series(task: Task | None) -> bool:
    """Whether the task is a series whose occurrences the rule fixes (not `repeat_from=completion`)."""
    return task is not None and task.parent_id is None and bool(task.recurrence_rule) and task.repeat_from == "schedule"


def skipped_occurrences(
    session: orm.Session, series_ids: list[str], since: dt.datetime | None = None
) -> dict[str, set[dt.datetime]]:
    """The skipped occurrences of these series (those at or after `since`), by series id."""
    found: dict[str, set[dt.datetime]] = {series_id: set() for series_id in series_ids}
    if not series_ids:
        return found
    stmt = sa.select(SkippedOccurrence.series_id, SkippedOccurrence.occurrence_at).where(
        SkippedOccurrence.series_id.in_(series_ids)
    )
    if since is not None:
        stmt = stmt.where(SkippedOccurrence.occurrence_at >= since)
    for series_id, occurrence in session.execute(stmt):
        found[series_id].add(occurrence)
    return found


def over_skip_cap(skipped: Iterable[dt.datetime], occurrence: dt.datetime, now: dt.datetime) -> bool:
    """Whether skipping `occurrence` too would take the series past MAX_SKIPPED_AHEAD skips ahead of now."""
    return occurrence > now and sum(1 for s in skipped if s > now) >= MAX_SKIPPED_AHEAD


def record_skip(session: orm.Session, series_id: str, occurrence: dt.datetime, now: dt.datetime) -> bool:
    """Remember that the user skipped this occurrence; return False when it was skipped already."""
    table = SkippedOccurrence.__table__
    stmt = (
        _insert_ignoring_duplicates(session, table)
        .values(series_id=series_id, occurrence_at=occurrence, created_at=now)
        .on_conflict_do_nothing(index_elements=["series_id", "occurrence_at"])
        .returning(table.c.series_id)
    )
    return session.connection().execute(stmt).first() is not None


def next_kept(rule: Rule, after: dt.datetime, skipped: set[dt.datetime], *, inclusive: bool) -> dt.datetime | None:
    """The first occurrence at (or strictly after) `after` that the user did not skip.

    Bounded: skips ahead of now are capped per series (MAX_SKIPPED_AHEAD), so at most that many
    more occurrences are expanded.
    """
    ahead = sum(1 for s in skipped if s >= after)
    for occurrence in rule.occurrences(after, ahead + 1, inclusive):
        if occurrence not in skipped:
            return occurrence
    return None


def start_series(
    task: Task, rule: Rule, repeat_from: str, now: dt.datetime, skipped: Iterable[dt.datetime] = ()
) -> None:
    """Make a task a series of `rule` (or change its rule): its next occurrence is the first at or
    after now that was not skipped; for an all-day series, the first from today on (in its zone), so
    a series starting today has today's task."""
    task.recurrence_rule, task.timezone, task.dtstart, task.dtstart_wall = (
        rule.text,
        rule.timezone,
        rule.dtstart,
        rule.wall,
    )
    task.repeat_from = repeat_from
    after = start_of_day(local_day(now, rule.timezone), rule.timezone) if task.all_day else now
    task.next_occurrence = next_kept(rule, after, set(skipped), inclusive=True)


def spawn_instances(session: orm.Session, due: list[tuple[Task, dt.datetime]], now: dt.datetime) -> list[Task]:
    """Create one instance per (series, occurrence) unless it exists; stage `recurring.spawned` for each.

    One multi-row INSERT … ON CONFLICT DO NOTHING per batch: the unique (parent_id, occurrence_at)
    constraint makes repeated or concurrent runs safe (a duplicate inserts and emits nothing).
    """
    if not due:
        return []
    candidates = {(s.id, occ): (s, instance_of(s, occ, now)) for s, occ in due}
    rows = [{c.key: getattr(inst, c.key) for c in Task.__table__.columns} for _, inst in candidates.values()]
    conn = session.connection()
    stmt = (
        _insert_ignoring_duplicates(session)
        .on_conflict_do_nothing(index_elements=["parent_id", "occurrence_at"])
        .returning(Task.__table__.c.id)
    )
    inserted = set(conn.execute(stmt, rows).scalars())
    spawned, reminders, outbox = [], [], []
    for series, instance in candidates.values():
        if instance.id not in inserted:
            continue
        spawned.append(instance)
        # A scheduled series rings its relative reminders itself (arm_relative_reminders): copies at
        # spawn time, the occurrence, would only ring late or twice. A completion series' copies are ahead.
        reminders_of_series = [] if is_scheduled_series(series) else series.reminders
        for reminder in reminders_of_series:
            if reminder.minutes_before is None or instance.occurrence_at is None:  # (an instance always has one)
                continue
            remind_at = remind_before(
                session, series, instance.due_date or instance.occurrence_at, reminder.minutes_before
            )
            if remind_at >= now:  # one already past at spawn time would only arrive late: skipped
                copy = new_reminder(instance, remind_at, reminder.minutes_before, now)
                reminders.append({c.key: getattr(copy, c.key) for c in Reminder.__table__.columns})
        outbox.append(outbox_values(spawned_event(instance, series.id)))
    if reminders:
        conn.execute(sa.insert(Reminder.__table__), reminders)
    if outbox:
        conn.execute(sa.insert(Outbox.__table__), outbox)
    return spawned


def spawn_instance(session: orm.Session, series: Task, occurrence: dt.datetime, now: dt.datetime) -> Task | None:
    """Spawn the single instance for `occurrence` (see spawn_instances)."""
    spawned = spawn_instances(session, [(series, occurrence)], now)
    return spawned[0] if spawned else None


def advance(series: Task, occurrence: dt.datetime, now: dt.datetime, skipped: set[dt.datetime] | None = None) -> None:
    """Move next_occurrence past now (missed occurrences are not back-filled; skipped ones are passed over)."""
    if series.repeat_from == "completion":
        series.next_occurrence = None  # the next one spawns when this instance is completed
        return
    try:
        series.next_occurrence = next_kept(rule_of(series), max(now, occurrence), skipped or set(), inclusive=False)
    except UnusableRule:
        # Stored before rules were bounded: stop the series rather than stall every sweep on it.
        log.warning("series rule over its expansion budget; series stopped", extra={"series_id": series.id})
        series.next_occurrence = None


def spawn_after_completion(session: orm.Session, instance: Task, now: dt.datetime) -> Task | None:
    """For an instance of a `repeat_from=completion` series: spawn the next, one rule step after now."""
    if instance.parent_id is None:
        return None
    series = session.get(Task, instance.parent_id, with_for_update=True)
    if series is None or not series.recurrence_rule or series.repeat_from != "completion":
        return None
    if _has_successor(session, instance):
        return None  # completed before, reopened, completed again: its successor already exists
    try:
        occurrence = rule_of(series).step_from(now)
    except UnusableRule:
        log.warning("series rule over its expansion budget; nothing spawned", extra={"series_id": series.id})
        return None
    if occurrence is None:
        return None
    return spawn_instance(session, series, occurrence, now)


def follow_instance_ahead(session: orm.Session, instance: Task, now: dt.datetime) -> None:
    """An instance whose time has not come (ticked ahead, then reopened by Undo, or ticked again) moves
    its series: reopened, the series is due at it again; completed as the series' next, the series moves
    past it. Either way the series' reminders are placed anew (they ring for what is still to do)."""
    occurrence = instance.occurrence_at
    if instance.parent_id is None or occurrence is None or occurrence <= now:
        return
    parent = session.get(Task, instance.parent_id, with_for_update=True)
    if parent is None or parent.completed or not is_scheduled_series(parent):
        return
    changes = ChangeSet(parent, snapshot)
    if not instance.completed and (parent.next_occurrence is None or occurrence < parent.next_occurrence):
        parent.next_occurrence = occurrence
    elif instance.completed and parent.next_occurrence == occurrence:
        try:
            parent.next_occurrence = next_to_do(session, parent, occurrence, now)
        except UnusableRule:  # stored before rules were bounded: left as it is
            return
    arm_relative_reminders(session, parent, now, anew=True)
    changes.compare(("next_occurrence",))
    record_update(session, parent, changes, at=now)


def _has_successor(session: orm.Session, instance: Task) -> bool:
    """Whether the series spawned an instance after this one (the series row lock serialises this)."""
    later = (
        sa.select(Task.id)
        .where(Task.parent_id == instance.parent_id, Task.id != instance.id, Task.created_at > instance.created_at)
        .limit(1)
    )
    return session.scalar(later) is not None


def claim_due_series(session: orm.Session, now: dt.datetime, limit: int) -> list[Task]:
    """Lock up to `limit` due series; rows another sweeper holds are skipped, not waited for.

    A completed series spawns nothing (ticking one occurrence is POST …/complete-occurrence); reopened,
    it spawns one instance for what it missed, as after an outage."""
    stmt = (
        sa.select(Task)
        .where(Task.next_occurrence.is_not(None), Task.next_occurrence <= now, Task.completed == sa.false())
        .order_by(Task.next_occurrence)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Task)
        .options(orm.selectinload(Task.reminders))
    )
    return list(session.scalars(stmt))


def earliest_occurrence(session: orm.Session) -> dt.datetime | None:
    """When the next series is due (the recurrence timer sleeps until then)."""
    return session.scalar(
        sa.select(sa.func.min(Task.next_occurrence)).where(
            Task.next_occurrence.is_not(None), Task.completed == sa.false()
        )
    )


#: How many later occurrences an alarm may move past when its time is taken by another reminder of the series.
_ALARM_TRIES = 3


def relative_alarm(
    rule: Rule, lead: dt.timedelta, now: dt.datetime, skipped: set[dt.datetime], after: dt.datetime | None = None
) -> dt.datetime | None:
    """The occurrence a relative reminder (`lead` before each occurrence) should ring for next:
    the first kept occurrence whose alarm is still ahead of `now` (and later than `after`)."""
    start = now + lead if after is None else max(now + lead, after)
    return next_kept(rule, start, skipped, inclusive=False)


def occurrences_passed_over(session: orm.Session, series: Task, since: dt.datetime) -> set[dt.datetime]:
    """Occurrences from `since` on that nothing rings or spawns for: skipped ones, and those already
    done (ticked ahead through complete-occurrence, or a completed instance from an import)."""
    return (
        skipped_occurrences(session, [series.id], since=since)[series.id]
        | done_ahead(session, [series.id], since)[series.id]
    )


def next_to_do(session: orm.Session, series: Task, after: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The series' first occurrence after `after` that is neither skipped nor done already: its next
    occurrence once the one at `after` is done or skipped."""
    passed_over = occurrences_passed_over(session, series, min(now, after))
    return offload(next_kept, rule_of(series), after, passed_over, inclusive=False)


def done_ahead(session: orm.Session, series_ids: list[str], now: dt.datetime) -> dict[str, set[dt.datetime]]:
    """Occurrences after `now` whose instance is completed already, by series id."""
    found: dict[str, set[dt.datetime]] = {series_id: set() for series_id in series_ids}
    if not series_ids:
        return found
    stmt = sa.select(Task.parent_id, Task.occurrence_at).where(
        Task.parent_id.in_(series_ids), Task.occurrence_at > now, Task.completed.is_(True)
    )
    for series_id, occurrence in session.execute(stmt):
        if series_id is not None and occurrence is not None:
            found[series_id].add(occurrence)
    return found


def first_alarm(
    session: orm.Session, series: Task, minutes_before: int, now: dt.datetime, taken: set[dt.datetime]
) -> dt.datetime | None:
    """When a new relative reminder of a scheduled series rings first (none left: None)."""
    return _next_alarm(
        series,
        rule_of(series),
        dt.timedelta(minutes=minutes_before),
        now,
        occurrences_passed_over(session, series, now),
        None,
        taken,
        _all_day_alarms(session, series),
    )


def _next_alarm(
    series: Task,
    rule: Rule,
    lead: dt.timedelta,
    now: dt.datetime,
    passed_over: set[dt.datetime],
    after: dt.datetime | None,
    taken: set[dt.datetime],
    all_day: AllDayAlarms | None = None,
) -> dt.datetime | None:
    """The next alarm still ahead, off the times other reminders of the series hold (unique per task).

    Two leads can ring at one instant ("at due time" and "1 day before" on a daily series): the
    later one moves on by an occurrence. A rule over its expansion budget (stored before rules were
    bounded) gives None: the reminder rests rather than fail a whole sweep's batch.
    """
    if all_day is not None:
        return _next_all_day_alarm(series, rule, lead, now, passed_over, after, taken, all_day)
    start = after
    for _ in range(_ALARM_TRIES):
        try:
            occurrence = relative_alarm(rule, lead, now, passed_over, start)
        except UnusableRule:
            log.warning("series rule over its expansion budget; reminder not armed", extra={"series_id": series.id})
            return None
        if occurrence is None:
            return None
        if occurrence - lead not in taken:
            return occurrence - lead
        start = occurrence
    return None


#: An all-day series' alarm for one occurrence and lead (the person's time of day on its date, less the lead).
AllDayAlarms = Callable[[dt.datetime, dt.timedelta], dt.datetime]
#: How far an all-day alarm may sit from its occurrence (the start of the day in the series' zone):
#: the person's time of day on that date, in a zone up to a day away.
_ALL_DAY_SLACK = dt.timedelta(days=2)


def _all_day_alarms(session: orm.Session, series: Task) -> AllDayAlarms | None:
    """For an all-day series, its alarms at the person's time of day (DayClock); None for a timed one."""
    if not series.all_day:
        return None
    clock = day_clock(session, series.user_id)

    def alarm(occurrence: dt.datetime, lead: dt.timedelta) -> dt.datetime:
        return clock.remind_at(local_day(occurrence, series.timezone), 0) - lead

    return alarm


def _next_all_day_alarm(
    series: Task,
    rule: Rule,
    lead: dt.timedelta,
    now: dt.datetime,
    passed_over: set[dt.datetime],
    after: dt.datetime | None,
    taken: set[dt.datetime],
    alarm_of: AllDayAlarms,
) -> dt.datetime | None:
    """_next_alarm for an all-day series: the first kept occurrence (after `after`) whose alarm is ahead and free."""
    start = now + lead - _ALL_DAY_SLACK
    if after is not None:
        start = max(start, after)
    for _ in range(_ALARM_TRIES + 4):  # a few more: the search starts up to two days early
        try:
            occurrence = next_kept(rule, start, passed_over, inclusive=False)
        except UnusableRule:
            log.warning("series rule over its expansion budget; reminder not armed", extra={"series_id": series.id})
            return None
        if occurrence is None:
            return None
        alarm = alarm_of(occurrence, lead)
        if alarm > now and alarm not in taken:
            return alarm
        start = occurrence
    return None


def arm_relative_reminders(
    session: orm.Session,
    task: Task,
    now: dt.datetime,
    *,
    after: dt.datetime | None = None,
    only: Reminder | None = None,
    anew: bool = False,
) -> None:
    """Point a scheduled series' relative reminders at their next alarm.

    Instances spawn at their occurrence, so a reminder "1 day before" copied to an instance would
    always be past: the series rings instead. Each relative reminder of the series stays pending
    for the next occurrence whose alarm is still ahead (skipped ones and those with an instance
    already passed over); after it rings (reminders function) it is armed again for the one after.

    Which reminders move: `only` that one (it just rang; past `after`); with `anew`, every relative
    one (the rule, the skips or the series' state changed); otherwise those resting (rung, passed,
    cancelled), which the recurrence sweep arms again as each occurrence spawns. One with no
    occurrence left (the series ended) rests as `passed`.
    """
    if not is_scheduled_series(task) or task.completed:
        return
    relative = [r for r in task.reminders if r.minutes_before is not None]
    moving = [only] if only is not None else [r for r in relative if anew or r.notified]
    if not moving:
        return
    try:
        rule = rule_of(task)
    except ValueError:  # a series without its start (never written so): nothing to ring for
        log.warning("series without dtstart; reminders not armed", extra={"series_id": task.id})
        rule = None
    passed_over = occurrences_passed_over(session, task, now) if rule is not None else set()
    times = ReminderTimes(task)
    all_day = _all_day_alarms(session, task)
    for reminder in moving:
        lead = dt.timedelta(minutes=reminder.minutes_before or 0)
        alarm = (
            None
            if rule is None
            else _next_alarm(task, rule, lead, now, passed_over, after, times.taken(reminder), all_day)
        )
        if alarm is None:
            times.rest(reminder, now)
        else:
            times.move(reminder, alarm)


class ReminderTimes:
    """Moves a task's reminders to new times, keeping (task_id, remind_at) unique.

    Times held when it starts stay off-limits to the others (whatever order the flush writes the
    rows in, no row takes a time another still holds), and so do the times given out since. A
    reminder with no free time left rests as `passed`: pending no more, never ringing.
    """

    def __init__(self, task: Task):
        self._held = {r.remind_at for r in task.reminders}
        self._given: set[dt.datetime] = set()

    def taken(self, reminder: Reminder) -> set[dt.datetime]:
        """The times this reminder may not take."""
        return (self._held - {reminder.remind_at}) | self._given

    def move(self, reminder: Reminder, at: dt.datetime) -> None:
        """Give the reminder a new time, pending again."""
        self._given.add(at)
        reminder.remind_at, reminder.notified, reminder.notified_at, reminder.outcome = at, False, None, None

    def rest(self, reminder: Reminder, now: dt.datetime) -> None:
        """Let the reminder rest at its time, never ringing (`passed`)."""
        self._given.add(reminder.remind_at)  # it keeps its time
        reminder.notified, reminder.outcome = True, "passed"
        reminder.notified_at = reminder.notified_at or now
