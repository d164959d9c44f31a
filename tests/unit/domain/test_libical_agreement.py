"""Rules libical (Evolution, Thunderbird) and python-dateutil expand differently: TaskFlow answers as libical
does, or refuses the rule (BadValue: a 422 in preview and on tasks). Expected days are written from RFC 5545
and libical's semantics, not from dateutil."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.domain.rule_parsing import parse_rule
from shared.domain.times import BadValue

UTC = dt.UTC


def days(rule_text: str, start: str, count: int = 4, tz: str = "UTC") -> list[str]:
    rule = parse_rule(rule_text, tz, start)
    after = rule.dtstart
    return [o.astimezone(UTC).strftime("%Y-%m-%d %a") for o in rule.occurrences(after, count)]


def test_yearly_byweekno_without_byday_is_dtstarts_weekday_in_that_iso_week() -> None:
    # DTSTART Tuesday 2026-01-06; ISO week 20 starts Mon 2026-05-11, 2027-05-17, 2028-05-15, 2029-05-14.
    assert days("FREQ=YEARLY;BYWEEKNO=20", "2026-01-06T09:00:00") == [
        "2026-05-12 Tue",
        "2027-05-18 Tue",
        "2028-05-16 Tue",
        "2029-05-15 Tue",
    ]


def test_byweekno_list_and_last_week_take_dtstarts_weekday() -> None:
    # DTSTART Friday 2026-01-02 (ISO week 1 of 2026); week -1 of 2026 is week 53 (Dec 28 - Jan 3).
    assert days("FREQ=YEARLY;BYWEEKNO=1,-1", "2026-01-02T08:00:00", 4) == [
        "2026-01-02 Fri",
        "2027-01-01 Fri",  # the last ISO week of 2026 (week 53) ends on Sunday 2027-01-03
        "2027-01-08 Fri",  # ISO week 1 of 2027 starts Monday 2027-01-04
        "2027-12-31 Fri",  # the last ISO week of 2027 (week 52: Dec 27 - Jan 2)
    ]


def test_series_from_a_later_moment_keeps_the_weekday_of_dtstart() -> None:
    """Expanding from far ahead (the period realignment) still uses DTSTART's weekday, not January 1st's."""
    rule = parse_rule("FREQ=YEARLY;BYWEEKNO=20", "Europe/Berlin", "2026-01-06T09:00:00")
    later = rule.occurrences(dt.datetime(2040, 1, 1, tzinfo=UTC), 2)
    assert [o.strftime("%Y-%m-%d %a") for o in later] == ["2040-05-15 Tue", "2041-05-14 Tue"]


def test_byweekno_with_byday_is_unchanged() -> None:
    assert days("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO,FR", "2026-01-06T09:00:00", 2) == ["2026-05-11 Mon", "2026-05-15 Fri"]


def test_the_feed_states_the_weekday_so_every_client_agrees() -> None:
    rule = parse_rule("FREQ=YEARLY;BYWEEKNO=20", "UTC", "2026-01-06T09:00:00")
    assert rule.export_text() == "FREQ=YEARLY;BYWEEKNO=20;BYDAY=TU"
    assert rule.text == "FREQ=YEARLY;BYWEEKNO=20"  # what the person wrote is kept as written


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=1", "BYSETPOS only with FREQ=MONTHLY or YEARLY"),
        ("FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=-1;COUNT=4", "BYSETPOS only with FREQ=MONTHLY or YEARLY"),
        ("FREQ=YEARLY;INTERVAL=2;BYWEEKNO=53", "week 53 together with an INTERVAL"),
        ("FREQ=YEARLY;INTERVAL=3;BYWEEKNO=53;BYDAY=MO", "week 53 together with an INTERVAL"),
        ("FREQ=YEARLY;INTERVAL=2;BYWEEKNO=-53;BYDAY=MO", "week 53 together with an INTERVAL"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYMONTH=5", "must not combine BYWEEKNO with BYMONTH"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYMONTHDAY=12", "must not combine BYWEEKNO with BYMONTHDAY"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYYEARDAY=130", "must not combine BYWEEKNO with BYYEARDAY"),
    ],
)
def test_rules_libical_answers_otherwise_are_refused_with_a_reason(text: str, words: str) -> None:
    with pytest.raises(BadValue, match=words):
        parse_rule(text, "UTC", "2026-01-05T09:00:00")


def test_week_53_every_year_and_bysetpos_in_monthly_rules_are_still_answered() -> None:
    # 2026 has an ISO week 53 (Dec 28 - Jan 3); 2027-2031 do not, 2032 does.
    assert days("FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO", "2026-01-05T09:00:00", 2) == ["2026-12-28 Mon", "2032-12-27 Mon"]
    assert days("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "2026-01-05T09:00:00", 2) == [
        "2026-01-30 Fri",
        "2026-02-27 Fri",
    ]
