"""DST proven 2026–2030: every occurrence keeps its wall-clock time, gaps and repeats by one rule.

The rule (RFC 5545 §3.3.5, and the one documented in README): a wall-clock time that does not
exist on a spring-forward day is placed with the UTC offset *before* the gap (02:30 in New York
on 14 March 2027 is 03:30 EDT); a time that happens twice on an autumn day is the first of the
two (fold=0, the daylight-time one). Every other occurrence is exactly the series' wall-clock time.

Dates are cross-checked against plain python-dateutil walking from DTSTART on naive wall-clock
times, so the bounded, realigned expansion of shared/domain/recurrence.py must not move a single one.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from dateutil import rrule
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shared.domain.rule_parsing import parse_rule
from shared.domain.times import BadValue
from tests.support.examples import examples

UTC = dt.UTC
ZONES = ["America/New_York", "Europe/London", "Europe/Paris", "Australia/Sydney", "Pacific/Auckland", "Asia/Kolkata"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
FROM = dt.datetime(2026, 1, 1, tzinfo=UTC)
TO = dt.datetime(2031, 1, 1, tzinfo=UTC)


def transition_days(tz_name: str) -> list[dt.date]:
    """The days 2026–2029 on which the zone changes its offset (none for Asia/Kolkata)."""
    tz = zoneinfo.ZoneInfo(tz_name)
    days, day = [], dt.date(2026, 1, 1)
    while day.year < 2030:
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).utcoffset()
        end = dt.datetime.combine(day, dt.time(23, 59), tzinfo=tz).utcoffset()
        if start != end:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


TRANSITIONS = {name: transition_days(name) for name in ZONES}
# Hours around the transitions of these zones (00:00–03:59 local) are drawn far more often.
HOURS = st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, 23))
MINUTES = st.sampled_from([0, 15, 30, 45, 59])


@st.composite
def starts(draw) -> tuple[str, dt.date]:
    """A zone and a first day: often a transition day itself, or the day before one."""
    tz_name = draw(st.sampled_from(ZONES))
    any_day = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2029, 12, 31))
    if TRANSITIONS[tz_name] and draw(st.booleans()):
        day = draw(st.sampled_from(TRANSITIONS[tz_name])) - dt.timedelta(days=draw(st.sampled_from([0, 0, 1, 7])))
    else:
        day = draw(any_day)
    return tz_name, day


@st.composite
def rules(draw) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
    days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
    if freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
        if draw(st.booleans()):
            parts.append("BYDAY=" + ",".join(f"{draw(st.sampled_from(['1', '2', '-1']))}{d}" for d in days))
        else:
            monthdays = draw(st.sets(st.sampled_from([1, 8, 15, 28, -1]), min_size=1, max_size=3))
            parts.append("BYMONTHDAY=" + ",".join(str(d) for d in sorted(monthdays)))
        if freq == "YEARLY":
            parts.append(
                f"BYMONTH={','.join(str(m) for m in sorted(draw(st.sets(st.integers(1, 12), min_size=1, max_size=4))))}"
            )
    elif freq != "DAILY" or draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(days))
    if "BYDAY" in ";".join(parts) and freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, -1]))}")
    ending = draw(st.sampled_from(["none", "count", "until"]))
    if ending == "count":
        parts.append(f"COUNT={draw(st.integers(1, 60))}")
    elif ending == "until":
        until = draw(st.datetimes(min_value=dt.datetime(2026, 6, 1), max_value=dt.datetime(2030, 12, 31)))
        parts.append(f"UNTIL={until:%Y%m%dT%H%M%S}Z")
    return ";".join(parts)


def placed(naive: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The documented rule: fold=0 is the offset before a gap, and the first of a repeated hour."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def all_occurrences(rule) -> list[dt.datetime]:
    out: list[dt.datetime] = []
    after = FROM
    while True:
        batch = rule.occurrences(after, 200, inclusive=not out)
        out.extend(o for o in batch if o < TO)
        if len(batch) < 200 or batch[-1] >= TO:
            return out
        after = batch[-1]


@hsettings(max_examples=examples(250), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule_text=rules(),
    start=starts(),
    hour=HOURS,
    minute=MINUTES,
)
def test_every_occurrence_2026_to_2030_keeps_its_wall_clock_time(rule_text, start, hour, minute):
    tz_name, day = start
    tz = zoneinfo.ZoneInfo(tz_name)
    wall = dt.datetime.combine(day, dt.time(hour, minute))
    try:
        rule = parse_rule(rule_text, tz_name, wall.isoformat())
    except BadValue:
        return  # e.g. BYSETPOS over an empty set: refused, never answered wrongly
    got = all_occurrences(rule)
    # Independent dates: dateutil from DTSTART, with UNTIL read as the zone's wall-clock time.
    naive_rule = rule_text
    if "UNTIL=" in rule_text:
        until = dt.datetime.strptime(rule_text.split("UNTIL=")[1][:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        naive_rule = rule_text.replace(rule_text.split("UNTIL=")[1][:16], f"{until.astimezone(tz):%Y%m%dT%H%M%S}")
    expected_wall = [
        w for w in rrule.rrulestr(naive_rule, dtstart=wall).between(wall, dt.datetime(2031, 1, 2), inc=True)
    ]
    expected = [placed(w, tz) for w in expected_wall if FROM <= placed(w, tz) < TO]
    assert got == expected, (rule_text, tz_name, wall)
    for occurrence, w in zip(got, [w for w in expected_wall if FROM <= placed(w, tz) < TO], strict=True):
        local = occurrence.astimezone(tz)
        assert local.date() == w.date()
        gap = placed(w, tz) != w.replace(tzinfo=tz, fold=1).astimezone(UTC) and local.replace(tzinfo=None) != w
        if gap:  # nonexistent: the offset before the gap moves it forward by the gap's length
            assert local.replace(tzinfo=None) - w == local.utcoffset() - (local - dt.timedelta(hours=3)).utcoffset()
        else:
            assert (local.hour, local.minute) == (hour, minute)
            assert local.fold == 0 or occurrence == placed(w, tz), "a repeated hour resolves to the first"
