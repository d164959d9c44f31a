"""Recurrence maths is bounded: whatever the rule and dates, no call spends more than 200 ms.

Hostile rules (impossible, extremely sparse or dense, starting in 1900, asked about year 9999)
are either answered quickly or refused with a 422 naming the rule. CPU time of this process
is measured (time.process_time: the live server runs in a thread of this process), so other
work on a loaded machine does not count against the budget.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from functions.recurrence.sweep import spawn_due
from functions.tasks import create_app as tasks_app
from shared.domain.recurrence import RecurrenceTooComplex, budget, parse_rule, realign
from shared.domain.times import BadValue
from shared.persistence.models import Task
from shared.settings import Settings
from tests.conftest import JWT_SECRET
from tests.support.live import Client, LiveServer

UTC = dt.UTC
LIMIT_SECONDS = 0.2
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kathmandu"]
FREQS = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _csv(values) -> str:
    return ",".join(str(v) for v in values)


@st.composite
def rules(draw, allow_count: bool = True) -> str:
    """RRULE bodies mixing every part, including impossible and extreme combinations."""
    parts = [f"FREQ={draw(st.sampled_from(FREQS))}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.sampled_from([1, 2, 3, 7, 13, 15, 60, 1000, 999999]))}")
    optional = {
        "BYMONTH": st.lists(st.integers(1, 12), min_size=1, max_size=3),
        "BYMONTHDAY": st.lists(st.sampled_from([1, 15, 28, 29, 30, 31, -1, -31]), min_size=1, max_size=3),
        "BYYEARDAY": st.lists(st.sampled_from([1, 60, 200, 366, -1, -366]), min_size=1, max_size=2),
        "BYWEEKNO": st.lists(st.sampled_from([1, 20, 52, 53, -1]), min_size=1, max_size=2),
        "BYHOUR": st.lists(st.integers(0, 23), min_size=1, max_size=4),
        "BYMINUTE": st.lists(st.integers(0, 59), min_size=1, max_size=4),
        "BYSECOND": st.lists(st.integers(0, 59), min_size=1, max_size=4),
        "BYSETPOS": st.lists(st.sampled_from([1, 2, -1, 100, -366]), min_size=1, max_size=2),
    }
    for name, values in optional.items():
        if draw(st.integers(0, 3)) == 0:
            parts.append(f"{name}={_csv(sorted(set(draw(values))))}")
    if draw(st.integers(0, 3)) == 0:
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        nth = draw(st.sampled_from(["", "", "1", "-1", "5", "53"]))
        parts.append("BYDAY=" + ",".join(nth + d for d in days))
    ending = draw(st.sampled_from(["none", "none", "until", "count"] if allow_count else ["none", "until"]))
    if ending == "until":
        until = draw(st.sampled_from(["99991231T235959Z", "99990101T000000", "19000102T000000Z", "20270101T000000Z"]))
        parts.append(f"UNTIL={until}")
    elif ending == "count":
        parts.append(f"COUNT={draw(st.sampled_from([1, 5, 1000, 999999999]))}")
    return ";".join(parts)


moments = st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(UTC))


def within_budget(call, clock=time.thread_time):
    """Run `call`; return its result (or the BadValue it raised) and assert it took ≤ 200 ms.

    Pure calls are timed on this thread's CPU clock; HTTP calls (served by another thread of
    this process) on the process CPU clock. A call over the limit is repeated twice and the
    best time counts: a hostile rule is slow every time, a noisy neighbour only sometimes.
    """
    best, results = None, []
    for _ in range(3):
        started = clock()
        try:
            results.append(call())
        except BadValue as exc:
            results.append(exc)
        spent = clock() - started
        best = spent if best is None else min(best, spent)
        if best <= LIMIT_SECONDS:
            return results[0]  # the first call's answer: a sweep run again has nothing left to do
    raise AssertionError(f"took {best * 1000:.0f} ms of CPU at best")


def over_http(call):
    return within_budget(call, clock=time.process_time)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(), tz=st.sampled_from(ZONES), start=moments, after=moments, count=st.integers(1, 500))
def test_every_expansion_of_any_rule_stays_within_200_ms(rule, tz, start, after, count):
    parsed = within_budget(lambda: parse_rule(rule, tz, start.isoformat()))
    if isinstance(parsed, BadValue):
        return
    within_budget(lambda: parsed.occurrences(after, count))
    within_budget(lambda: parsed.next_after(after))
    within_budget(lambda: parsed.step_from(after))
    within_budget(lambda: parsed.min_gap(after))


@hsettings(max_examples=150, deadline=None)
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


@pytest.mark.parametrize(
    "body",
    [
        {"recurrence_rule": "FREQ=SECONDLY;UNTIL=99991231T235959Z", "after": "9999-12-01T00:00:00Z", "count": 500},
        {"recurrence_rule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "count": 5},
        {"recurrence_rule": "FREQ=MINUTELY", "dtstart": "1900-01-01T00:00:00Z", "count": 500},
        {"recurrence_rule": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=5", "dtstart": "1900-01-01T00:00:00Z"},
        {"recurrence_rule": "FREQ=YEARLY;BYWEEKNO=53;BYMONTH=6", "dtstart": "1900-01-01T00:00:00Z"},
    ],
)
def test_the_probes_hostile_previews_answer_within_200_ms(api, body):
    resp = over_http(
        lambda: api.request(
            "POST", "/api/{me}/recurrence/preview", json={"dtstart": "2026-01-01T00:00:00Z", "timezone": "UTC", **body}
        )
    )
    assert resp.status_code in (200, 422), resp.text
    if resp.status_code == 422:
        assert "recurrence_rule" in resp.json()["errors"]


def test_an_impossible_rule_is_a_422_naming_the_rule(api):
    resp = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={
            "recurrence_rule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
            "dtstart": "2026-01-01T00:00:00Z",
            "timezone": "UTC",
            "count": 5,
        },
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert "budget" in resp.json()["errors"]["recurrence_rule"]


def test_a_quarter_hourly_task_rule_from_1900_is_accepted_fast_and_sweeps_fast(api):
    task = api.create_task(title="since 1900")
    resp = over_http(
        lambda: api.request(
            "POST",
            f"/api/{{me}}/tasks/{task['id']}/recurrence",
            json={"recurrence_rule": "FREQ=MINUTELY;INTERVAL=15", "dtstart": "1900-01-01T00:00:00Z"},
        )
    )
    assert resp.status_code == 200, resp.text
    warm_up_the_sweep(api)
    with api.rt.sessions() as s:
        s.get(Task, task["id"]).next_occurrence = dt.datetime.now(UTC) - dt.timedelta(minutes=1)
        s.commit()
    assert within_budget(lambda: spawn_due(api.rt)) == 1


def warm_up_the_sweep(api) -> None:
    """A first sweep in this process pays for first-use work (imports, compiled patterns); the timed one
    must not, or within_budget runs it again, and a second sweep has nothing left to spawn."""
    assert spawn_due(api.rt) == 0


def test_a_stored_rule_over_budget_stops_its_series_instead_of_stalling_the_sweep(api):
    task = api.create_task(title="stored before the bound")
    warm_up_the_sweep(api)
    with api.rt.sessions() as s:
        row = s.get(Task, task["id"])
        row.recurrence_rule, row.timezone = "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "UTC"
        row.dtstart = dt.datetime(1900, 1, 1, tzinfo=UTC)
        row.next_occurrence = dt.datetime.now(UTC) - dt.timedelta(minutes=1)
        s.commit()
    assert within_budget(lambda: spawn_due(api.rt)) == 1
    with api.rt.sessions() as s:
        assert s.get(Task, task["id"]).next_occurrence is None


def test_completion_spawning_is_bounded_too():
    rule = parse_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "UTC", "1900-01-01T00:00:00Z")
    with pytest.raises(RecurrenceTooComplex):
        rule.step_from(dt.datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def module_api(pg_url):
    app = tasks_app(Settings(database_url=pg_url, jwt_secret=JWT_SECRET, run_background_workers=False))
    with LiveServer(app) as server:
        yield Client(server.url).signup()
    app.extensions["taskflow"].close()


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(), tz=st.sampled_from(ZONES), start=moments, after=moments, count=st.integers(1, 500))
def test_hostile_previews_and_task_rules_over_http_answer_within_200_ms(module_api, rule, tz, start, after, count):
    preview = over_http(
        lambda: module_api.request(
            "POST",
            "/api/{me}/recurrence/preview",
            json={
                "recurrence_rule": rule,
                "timezone": tz,
                "dtstart": start.isoformat(),
                "after": after.isoformat(),
                "count": count,
            },
        )
    )
    assert preview.status_code in (200, 422), preview.text
    created = over_http(
        lambda: module_api.request(
            "POST",
            "/api/{me}/tasks",
            json={"title": "hostile", "recurrence_rule": rule, "timezone": tz, "due_date": start.isoformat()},
        )
    )
    assert created.status_code in (201, 422), created.text
