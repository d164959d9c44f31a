"""Recurrence over HTTP is bounded: hostile previews, task rules and the sweeps that expand them answer or
refuse with a 422 naming the rule, within the process's CPU bound (how fast: tests/bench/bench_recurrence.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from functions.recurrence.sweep import spawn_due
from functions.tasks import create_app as tasks_app
from shared.persistence.models import Task
from shared.settings import Settings
from tests.conftest import JWT_SECRET
from tests.support.live import Client, LiveServer
from tests.support.rrules import HOSTILE_PREVIEWS, ZONES, bounded, moments, over_http, rules

UTC = dt.UTC


@pytest.mark.parametrize("body", HOSTILE_PREVIEWS)
def test_the_probes_hostile_previews_answer_or_are_refused(api, body):
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


def test_a_quarter_hourly_task_rule_from_1900_is_accepted_and_swept(api):
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
    assert bounded(lambda: spawn_due(api.rt)) == 1


def warm_up_the_sweep(api) -> None:
    """A first sweep in this process pays for first-use work (imports, compiled patterns), not the checked one."""
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
    assert bounded(lambda: spawn_due(api.rt)) == 1
    with api.rt.sessions() as s:
        assert s.get(Task, task["id"]).next_occurrence is None


@pytest.fixture(scope="module")
def module_api(pg_url):
    app = tasks_app(Settings(database_url=pg_url, jwt_secret=JWT_SECRET, run_background_workers=False))
    with LiveServer(app) as server:
        yield Client(server.url).signup()
    app.extensions["taskflow"].close()


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(), tz=st.sampled_from(ZONES), start=moments, after=moments, count=st.integers(1, 500))
def test_hostile_previews_and_task_rules_over_http_answer_or_are_refused(module_api, rule, tz, start, after, count):
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
