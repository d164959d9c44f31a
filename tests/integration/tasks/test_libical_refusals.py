"""Rules libical (Evolution, Thunderbird) expands otherwise: answered as libical does, or refused with a 422
(never a different answer), both in the preview and on a task; a refused task stores nothing."""

from __future__ import annotations

import sqlalchemy as sa

from shared.persistence.models import Task

REFUSED = "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=1"


def test_weekly_bysetpos_is_refused_in_preview_and_on_a_task(api):
    preview = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={"recurrence_rule": REFUSED, "dtstart": "2026-01-05T09:00:00", "timezone": "Europe/Berlin", "count": 3},
    )
    assert preview.status_code == 422, preview.text
    assert "BYSETPOS only with FREQ=MONTHLY or YEARLY" in preview.json()["errors"]["recurrence_rule"]
    with api.rt.sessions() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(Task))
    created = api.request(
        "POST",
        "/api/{me}/tasks",
        json={"title": "standup", "due_date": "2026-01-05T09:00:00+01:00", "recurrence_rule": REFUSED},
    )
    assert created.status_code == 422, created.text
    assert "BYSETPOS" in created.json()["errors"]["recurrence_rule"]
    week53 = api.request(
        "POST",
        "/api/{me}/tasks",
        json={
            "title": "audit",
            "due_date": "2026-12-28T09:00:00Z",
            "recurrence_rule": "FREQ=YEARLY;INTERVAL=2;BYWEEKNO=53",
        },
    )
    assert week53.status_code == 422, week53.text
    assert "week 53" in week53.json()["errors"]["recurrence_rule"]
    with api.rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Task)) == before


def test_yearly_byweekno_preview_gives_dtstarts_weekday(api):
    resp = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={
            "recurrence_rule": "FREQ=YEARLY;BYWEEKNO=20",
            "dtstart": "2026-01-06T09:00:00",
            "timezone": "Europe/Berlin",
            "count": 3,
            "after": "2026-01-01T00:00:00Z",
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["occurrences"] == [
        "2026-05-12T09:00:00+02:00",
        "2027-05-18T09:00:00+02:00",
        "2028-05-16T09:00:00+02:00",
    ]
