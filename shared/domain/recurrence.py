"""RFC 5545 recurrence maths with python-dateutil, evaluated in the task's IANA timezone: a Rule and its
budgeted expansion (reading a client's rule text into a Rule is shared/domain/rule_parsing.py).

Rules are expanded on naive wall-clock times and each occurrence is then placed in the zone,
so a daily 09:00 stays 09:00 local across DST transitions.

Every expansion is bounded: it starts near the moment asked about (not at a dtstart that may
be centuries back) and runs under a step and CPU-time budget, so no rule, however hostile,
holds a thread for long. What cannot be answered within the budget raises
`RecurrenceTooComplex` (a BadValue: the API answers 422). These are plain functions with no
Flask or database access, so a worker pool can run them.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import functools
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import cast

from dateutil import rrule

from shared.domain.times import UTC, BadValue, zone

_GUARD_SAMPLE = 300
_GUARD_HORIZON = dt.timedelta(days=800)
_AROUND = (dt.timedelta(days=-2), dt.timedelta(0), dt.timedelta(days=2))
# One expansion may take at most this many rule periods/occurrences and this much CPU time. A usual
# rule needs well under a millisecond; the CPU bound is a backstop beside the steps, kept well above
# what a virtual machine's stolen time adds to a thread's CPU clock (40 ms refused plain rules there).
MAX_STEPS = 200_000
MAX_CPU_SECONDS = 0.15


class UnusableRule(BadValue):
    """A rule that parsed but cannot be expanded (the API answers 422 naming the rule)."""

    field = "recurrence_rule"


class RecurrenceTooComplex(UnusableRule):
    """The rule cannot be expanded within the budget (it is impossible, or far too sparse or dense)."""


class _Budget:
    """Steps and thread CPU time one expansion may spend; charged once per period and occurrence."""

    def __init__(self, steps: int, cpu_seconds: float):
        self.steps = steps
        self.deadline = time.thread_time() + cpu_seconds

    def charge(self) -> None:
        self.steps -= 1
        if self.steps < 0 or time.thread_time() > self.deadline:
            raise RecurrenceTooComplex(
                "cannot be expanded within the time budget; simplify the rule "
                "(it may never occur, or occur too rarely or too often)"
            )


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("taskflow_rrule_budget", default=None)


@contextlib.contextmanager
def budget(steps: int = MAX_STEPS, cpu_seconds: float = MAX_CPU_SECONDS) -> Iterator[_Budget]:
    """Bound the expansions in this block (a block nested in another shares the outer budget)."""
    outer = _budget.get()
    if outer is not None:
        yield outer
        return
    _install_period_hook()
    current = _Budget(steps, cpu_seconds)
    token = _budget.set(current)
    try:
        yield current
    finally:
        _budget.reset(token)


def _charge() -> None:
    current = _budget.get()
    if current is not None:
        current.charge()


_hook_lock = threading.Lock()
# What dateutil's _iterinfo.*dayset return: (day set, start, end).
_DaySet = tuple[Iterable[int | None], int, int]


def _install_period_hook() -> None:
    """Charge the budget on every period dateutil examines, also those that yield nothing.

    dateutil's rrule._iter asks its `_iterinfo` for the day set of each period (year, month,
    week or day); a rule such as FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30 loops over millions of
    periods without yielding, so checking the budget between yields alone is not enough.
    The subclass behaves exactly like the original when no budget is active.
    """
    with _hook_lock:
        if getattr(rrule._iterinfo, "charges_budget", False):
            return
        rrule._iterinfo = _budgeted(rrule._iterinfo)  # type: ignore[misc]  # deliberately replaces dateutil's private class


def _budgeted(iterinfo: type[rrule._iterinfo]) -> type[rrule._iterinfo]:
    """dateutil's _iterinfo, charging the active budget once per period."""

    class BudgetedIterinfo(iterinfo):  # type: ignore[misc,valid-type]  # mypy cannot follow a variable base; no __slots__ of its own: the base's __init__ reads them
        charges_budget = True

        def ydayset(self, *args: int) -> _DaySet:
            _charge()
            return cast(_DaySet, super().ydayset(*args))  # dateutil's day set, passed through

        def mdayset(self, *args: int) -> _DaySet:
            _charge()
            return cast(_DaySet, super().mdayset(*args))  # dateutil's day set, passed through

        def wdayset(self, *args: int) -> _DaySet:
            _charge()
            return cast(_DaySet, super().wdayset(*args))  # dateutil's day set, passed through

        def ddayset(self, *args: int) -> _DaySet:
            _charge()
            return cast(_DaySet, super().ddayset(*args))  # dateutil's day set, passed through

    return BudgetedIterinfo


@dataclasses.dataclass(frozen=True)
class Rule:
    """A parsed rule: normalised RRULE text, its zone and its first (wall-clock) start."""

    text: str
    timezone: str
    dtstart: dt.datetime  # aware UTC
    # The wall-clock start (naive) when `dtstart` cannot say it: only for a start in a DST gap.
    wall: dt.datetime | None = None

    def local_time(self, moment: dt.datetime) -> dt.datetime:
        """`moment` as naive wall-clock time in the rule's zone."""
        return moment.astimezone(zone(self.timezone)).replace(tzinfo=None)

    def _local_start(self) -> dt.datetime:
        return self.wall or self.local_time(self.dtstart)

    def compiled(self, start_local: dt.datetime | None = None) -> rrule.rrule | rrule.rruleset:
        """The dateutil rule, from its wall-clock start (or `start_local`); UnusableRule when it cannot be built."""
        start = start_local or self._local_start()
        return _compile(_localise_until(pin_week_days(self.text, start), self.timezone), start)

    def _place(self, naive: dt.datetime) -> dt.datetime:
        return naive.replace(tzinfo=zone(self.timezone)).astimezone(UTC)

    def _expand(self, from_moment: dt.datetime | None = None) -> Iterator[dt.datetime]:
        """Yield occurrences (aware UTC) from about `from_moment` on, charging the active budget.

        Expansion starts a whole number of rule periods after dtstart, just before
        `from_moment` less any nearby DST shift (see _dst_margin); callers filter exactly.
        A rule with COUNT is walked from dtstart (the count starts there), within the budget.
        """
        start = self._local_start()
        text = _localise_until(pin_week_days(self.text, start), self.timezone)
        if from_moment is not None:
            target = self.local_time(from_moment) - self._dst_margin(from_moment)
            if target > start and "COUNT=" not in text:
                text, start = realign(text, start, target)
        yield from self._walk(_compile(text, start))

    def _dst_margin(self, moment: dt.datetime) -> dt.timedelta:
        """How far before `moment`'s wall-clock time an occurrence placed after it can be.

        Wall-clock times in a spring-forward gap are placed an offset change later, so
        expansion starts that much earlier; with no change around `moment`, not at all.
        """
        tz = zone(self.timezone)
        try:
            # An aware datetime in a real zone always has an offset (never None).
            offsets = cast("list[dt.timedelta]", [(moment + shift).astimezone(tz).utcoffset() for shift in _AROUND])
        except OverflowError:
            return dt.timedelta(days=1)
        return max(offsets) - min(offsets)

    def _walk(self, compiled: rrule.rrule | rrule.rruleset) -> Iterator[dt.datetime]:
        for naive in self._walk_wall(compiled):
            try:
                yield self._place(naive)
            except (OverflowError, ValueError):
                return

    def _walk_wall(self, compiled: rrule.rrule | rrule.rruleset) -> Iterator[dt.datetime]:
        """Yield the rule's occurrences as naive wall-clock times, charging the active budget."""
        iterator = iter(compiled)
        while True:
            _charge()
            try:
                yield next(iterator)
            except StopIteration:
                return
            except RecurrenceTooComplex:
                raise
            except (OverflowError, ValueError):  # ran past year 9999
                return
            except (IndexError, KeyError, TypeError):  # dateutil trips over e.g. BYDAY=53MO with BYMONTH
                raise UnusableRule("cannot be expanded; check its BYDAY/BYMONTH/BYWEEKNO parts") from None

    def first_wall(self) -> dt.datetime | None:
        """The first occurrence as the rule states it: naive wall-clock time in the rule's zone.

        This is the DTSTART a calendar file needs: a first occurrence in a spring-forward gap
        (02:30 on the day New York skips to 03:00) is placed at 03:30 EDT, but the series'
        wall-clock time is still 02:30, and a client expanding from 03:30 would be an hour off
        every other day.
        """
        with budget():
            for naive in self._walk_wall(self.compiled()):
                return naive
        return None

    def occurrences(self, after: dt.datetime, count: int, inclusive: bool = True) -> list[dt.datetime]:
        """Up to `count` occurrences at (or strictly after) `after`, as aware UTC datetimes."""
        out: list[dt.datetime] = []
        with budget():
            for placed in self._expand(after):
                if placed > after or (inclusive and placed == after):
                    out.append(placed)
                    if len(out) >= count:
                        break
        return out

    def is_occurrence(self, moment: dt.datetime) -> bool:
        """Whether `moment` is one of the rule's occurrences."""
        return self.occurrences(moment, 1) == [moment]

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first occurrence strictly after `moment` (None when COUNT/UNTIL is exhausted)."""
        found = self.occurrences(moment, 1, inclusive=False)
        return found[0] if found else None

    def first(self) -> dt.datetime | None:
        """The first occurrence of the series (at or after dtstart)."""
        return self.next_after(self.dtstart - dt.timedelta(microseconds=1))

    def step_from(self, moment: dt.datetime) -> dt.datetime | None:
        """One rule step after `moment`, as if the series restarted there (Todoist's "every!")."""
        local = self.local_time(moment).replace(microsecond=0)
        text = pin_week_days(re.sub(r"(COUNT|UNTIL)=[^;]*;?", "", self.text).strip(";"), local)
        with budget():
            for placed in self._walk(_compile(text, local)):
                if placed > moment:
                    return placed
        return None

    def export_text(self) -> str:
        """The rule as a calendar file states it beside `DTSTART;TZID=…`: UNTIL in UTC.

        RFC 5545 §3.3.10: with a DTSTART "with local time and time zone reference, then the
        UNTIL rule part MUST be specified as a date with UTC time".
        """
        text = pin_week_days(self.text, self._local_start())
        match = re.search(r"UNTIL=(\d{8}T\d{6})(?=;|$)", _localise_until(text, self.timezone))
        if not match:
            return text
        local = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
        try:
            utc = self._place(local).strftime("%Y%m%dT%H%M%SZ")
        except (OverflowError, ValueError):
            utc = "99991231T235959Z"
        return re.sub(r"UNTIL=[^;]*", f"UNTIL={utc}", text)

    def min_gap(self, around: dt.datetime | None = None) -> dt.timedelta | None:
        """The smallest distance between consecutive occurrences in a sample from about `around`."""
        sample: list[dt.datetime] = []
        start = max(self.dtstart, around) if around is not None else self.dtstart
        with budget():
            for placed in self._expand(start):
                if sample and placed - sample[0] > _GUARD_HORIZON:
                    break
                sample.append(placed)
                if len(sample) >= _GUARD_SAMPLE:
                    break
        gaps = [b - a for a, b in zip(sample, sample[1:], strict=False)]
        return min(gaps) if gaps else None


FREQS = {
    "YEARLY": rrule.YEARLY,
    "MONTHLY": rrule.MONTHLY,
    "WEEKLY": rrule.WEEKLY,
    "DAILY": rrule.DAILY,
    "HOURLY": rrule.HOURLY,
    "MINUTELY": rrule.MINUTELY,
    "SECONDLY": rrule.SECONDLY,
}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_PARTS = ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYWEEKDAY", "BYEASTER")


def parts_of(text: str) -> dict[str, str]:
    """A rule's parts by name (FREQ, INTERVAL, BYDAY, …)."""
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


def pin_week_days(text: str, start: dt.datetime) -> str:
    """`FREQ=YEARLY;BYWEEKNO=…` without BYDAY, with DTSTART's weekday written out (`BYDAY=TU`).

    libical (Evolution, Thunderbird) and CalendarServer read such a rule as DTSTART's weekday in
    each ISO week named; python-dateutil expands it to all seven days of those weeks. Writing the
    weekday out makes dateutil, and every client reading our feed, answer as libical does.
    """
    parts = parts_of(text)
    if parts.get("FREQ") != "YEARLY" or "BYWEEKNO" not in parts or any(p in parts for p in _DAY_PARTS[1:]):
        return text
    return f"{text};BYDAY={_WEEKDAYS[start.weekday()]}"


def realign(text: str, start: dt.datetime, target: dt.datetime) -> tuple[str, dt.datetime]:
    """Restate a rule (without COUNT) to start at the beginning of a period at or before `target`.

    The period is a whole number of INTERVALs after `start`'s own, so the occurrences from
    there on are the original rule's. Parts dateutil would derive from dtstart (BYHOUR,
    BYMINUTE, BYSECOND, BYMONTHDAY, BYMONTH, BYDAY) are written out first, because the new
    start no longer carries them. Both times are naive wall-clock.
    """
    parts = parts_of(text)
    freq = FREQS[parts["FREQ"]]
    interval = int(parts.get("INTERVAL", "1"))
    extra: list[str] = []
    if not any(p in parts for p in _DAY_PARTS):
        if freq == rrule.YEARLY:
            if "BYMONTH" not in parts:
                extra.append(f"BYMONTH={start.month}")
            extra.append(f"BYMONTHDAY={start.day}")
        elif freq == rrule.MONTHLY:
            extra.append(f"BYMONTHDAY={start.day}")
        elif freq == rrule.WEEKLY:
            extra.append(f"BYDAY={_WEEKDAYS[start.weekday()]}")
    if freq < rrule.HOURLY and "BYHOUR" not in parts:
        extra.append(f"BYHOUR={start.hour}")
    if freq < rrule.MINUTELY and "BYMINUTE" not in parts:
        extra.append(f"BYMINUTE={start.minute}")
    if freq < rrule.SECONDLY and "BYSECOND" not in parts:
        extra.append(f"BYSECOND={start.second}")
    new_start = _period_start(freq, interval, start, target, _WEEKDAYS.index(parts.get("WKST", "MO")))
    if new_start <= start:  # still in dtstart's own period: nothing to skip
        return text, start
    return ";".join([text, *extra]), new_start


def _period_start(freq: int, interval: int, start: dt.datetime, target: dt.datetime, wkst: int) -> dt.datetime:
    """The start of the last period at or before `target` that is k*interval periods after `start`'s."""
    if freq == rrule.YEARLY:
        k = (target.year - start.year) // interval * interval
        return dt.datetime(start.year + k, 1, 1)
    if freq == rrule.MONTHLY:
        first = start.year * 12 + start.month - 1
        k = (target.year * 12 + target.month - 1 - first) // interval * interval
        year, month = divmod(first + k, 12)
        return dt.datetime(year, month + 1, 1)
    if freq == rrule.WEEKLY:
        week = start.date() - dt.timedelta(days=(start.weekday() - wkst) % 7)
        k = (target.date() - week).days // 7 // interval * interval
        return dt.datetime.combine(week + dt.timedelta(weeks=k), dt.time())
    if freq == rrule.DAILY:
        k = (target.date() - start.date()).days // interval * interval
        return dt.datetime.combine(start.date() + dt.timedelta(days=k), dt.time())
    unit = {
        rrule.HOURLY: dt.timedelta(hours=1),
        rrule.MINUTELY: dt.timedelta(minutes=1),
        rrule.SECONDLY: dt.timedelta(seconds=1),
    }[freq]
    base = {
        rrule.HOURLY: start.replace(minute=0, second=0),
        rrule.MINUTELY: start.replace(second=0),
        rrule.SECONDLY: start,
    }[freq]
    k = (target - base) // unit // interval * interval
    return base + k * unit


def _localise_until(text: str, tz_name: str) -> str:
    """Rules expand on wall-clock times; turn a UTC UNTIL (…Z) into the zone's wall-clock time.

    A date-only UNTIL bounds the whole of that day. RFC 5545 §3.3.10: "The UNTIL rule part
    defines a DATE or DATE-TIME value that bounds the recurrence rule in an inclusive manner."
    dateutil reads UNTIL=20261231 as 2026-12-31 00:00, dropping a 09:00 occurrence that day;
    Google Calendar, Apple Calendar and Thunderbird all keep it.
    """
    text = re.sub(r"UNTIL=(\d{8})(?=;|$)", r"UNTIL=\1T235959", text)
    match = re.search(r"UNTIL=(\d{8}T\d{6})Z", text)
    if not match:
        return text
    try:
        until = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        local = until.astimezone(zone(tz_name)).strftime("%Y%m%dT%H%M%S")
    except (ValueError, OverflowError):
        return text  # an UNTIL at the edge of year 9999 (or invalid: rrulestr says so) stays as given
    return text[: match.start()] + f"UNTIL={local}" + text[match.end() :]


def _compile(text: str, start_local: dt.datetime) -> rrule.rrule | rrule.rruleset:
    """Build the dateutil rule; one that cannot start at `start_local` is an UnusableRule."""
    try:
        return _compile_cached(text, start_local)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise UnusableRule(f"cannot be expanded from {start_local:%Y-%m-%d %H:%M:%S}: {str(exc)[:120]}") from None


@functools.lru_cache(maxsize=4096)
def _compile_cached(text: str, start_local: dt.datetime) -> rrule.rrule | rrule.rruleset:
    return rrule.rrulestr(text, dtstart=start_local, ignoretz=True, cache=False)
