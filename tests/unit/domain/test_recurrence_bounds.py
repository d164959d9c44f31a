"""Recurrence maths is bounded: whatever the rule and dates, each call answers or refuses (RecurrenceTooComplex,
a BadValue) within its CPU budget, and realigning a rule near the moment keeps its occurrences."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shared.domain.recurrence import RecurrenceTooComplex, budget, realign
from shared.domain.rule_parsing import parse_rule
from shared.domain.times import BadValue
from tests.support.examples import examples
from tests.support.rrules import ZONES, bounded, moments, rules

UTC = dt.UTC


@hsettings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(), tz=st.sampled_from(ZONES), start=moments, after=moments, count=st.integers(1, 500))
def test_every_expansion_of_any_rule_answers_or_refuses_within_its_budget(rule, tz, start, after, count):
    parsed = bounded(lambda: parse_rule(rule, tz, start.isoformat()))
    if isinstance(parsed, BadValue):
        return
    bounded(lambda: parsed.occurrences(after, count))
    bounded(lambda: parsed.next_after(after))
    bounded(lambda: parsed.step_from(after))
    bounded(lambda: parsed.min_gap(after))


@hsettings(max_examples=examples(150), deadline=None)
@given(
    rule=rules(allow_count=False),
    tz=st.sampled_from(ZONES),
    start=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2026, 1, 1)),
    shift_days=st.integers(0, 400),
)
def test_starting_near_the_moment_gives_the_same_occurrences_as_walking_from_dtstart(rule, tz, start, shift_days):
    """Realigning a rule to a period near `target` keeps exactly the occurrences from there on."""
    try:
        parsed = parse_rule(rule, tz, start.isoformat())
        from shared.domain.recurrence import _compile, _localise_until

        text = _localise_until(parsed.text, tz)
        origin = parsed._local_start()
        target = origin + dt.timedelta(days=shift_days, hours=5)
        new_text, new_start = realign(text, origin, target)
        assert new_start <= target
        with budget(cpu_seconds=1.0):
            walked = list(_compile(text, origin).xafter(new_start, count=30, inc=True))
            jumped = list(_compile(new_text, new_start).xafter(new_start, count=30, inc=True))
        assert walked == jumped
    except (BadValue, ValueError, OverflowError, IndexError):
        return  # invalid, empty or dateutil-tripping (BYDAY=53MO) rules are the other test's business


def test_completion_spawning_is_bounded_too():
    rule = parse_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "UTC", "1900-01-01T00:00:00Z")
    with pytest.raises(RecurrenceTooComplex):
        rule.step_from(dt.datetime(2026, 3, 1, tzinfo=UTC))
