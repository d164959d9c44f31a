"""The filter language through GET /tasks?filter= on PostgreSQL: each query of a fixed set of tasks
(all-day, overdue, a zone far from UTC, recurring, sub-tasks, lists, tags, priorities) returns
exactly the tasks it must, and a query that does not read is a 422 naming the position."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from functions.combined import create_app as combined_app
from shared.domain.days import local_day, start_of_day
from shared.persistence.models import Task
from tests.conftest import with_
from tests.support.live import Client

TZ = "Asia/Tokyo"  # UTC+9 all year: the person's day starts 9 hours before UTC's


def z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def app(settings, serve, make_client):
    server = serve(combined_app(with_(settings, run_background_workers=False)))
    client = make_client(server).signup()
    client.rt = server.app.extensions["taskflow"]
    return client


def make_tasks(app) -> dict[str, dict]:
    assert app.request("PUT", "/api/{me}/preferences", json={"timezone": TZ}).status_code == 200
    now = dt.datetime.now(dt.UTC)
    today = local_day(now, TZ)
    end_of_today = start_of_day(today + dt.timedelta(days=1), TZ)
    work = app.request("POST", "/api/{me}/lists", json={"name": "Work"}).json()
    home = app.request("POST", "/api/{me}/lists", json={"name": "Home"}).json()
    day = lambda n: (today + dt.timedelta(days=n)).isoformat()  # noqa: E731
    specs = {
        "today-timed": {
            "due_date": z(now + (end_of_today - now) / 2),
            "priority": "urgent",
            "tags": ["waiting"],
            "list_id": work["id"],
        },
        "today-allday": {"due_date": day(0), "priority": "urgent", "list_id": work["id"]},
        "overdue-timed": {"due_date": z(now - dt.timedelta(days=2)), "priority": "urgent", "tags": ["home"]},
        "overdue-allday": {"due_date": day(-1), "priority": "high"},
        "tokyo-yesterday": {"due_date": z(start_of_day(today, TZ) - dt.timedelta(minutes=1)), "priority": "medium"},
        "tomorrow-timed": {"due_date": z(end_of_today), "priority": "low", "list_id": home["id"]},
        "tomorrow-allday": {"due_date": day(1)},
        "in-6-days": {"due_date": day(6), "priority": "high"},
        "in-7-days": {"due_date": day(7)},
        "no-date": {"description": "buy Milk at the shop", "list_id": home["id"], "tags": ["home", "waiting"]},
        "recurring": {
            "due_date": z(start_of_day(today + dt.timedelta(days=3), TZ) + dt.timedelta(hours=10)),
            "recurrence_rule": "FREQ=WEEKLY",
        },
        "subtask": {"priority": "medium"},
        "percent 100%": {},
    }
    made = {}
    for title, fields in specs.items():
        resp = app.request("POST", "/api/{me}/tasks", json={"title": title, **fields})
        assert resp.status_code == 201, resp.text
        made[title] = resp.json()
    with app.rt.sessions() as s:  # the sub-task API is another part of issue 25: set the link directly
        s.execute(sa.update(Task).where(Task.id == made["subtask"]["id"]).values(parent_task_id=made["no-date"]["id"]))
        s.commit()
    return made


ALL = {
    "today-timed",
    "today-allday",
    "overdue-timed",
    "overdue-allday",
    "tokyo-yesterday",
    "tomorrow-timed",
    "tomorrow-allday",
    "in-6-days",
    "in-7-days",
    "no-date",
    "recurring",
    "subtask",
    "percent 100%",
}
P4 = {"tomorrow-timed", "tomorrow-allday", "in-7-days", "no-date", "recurring", "percent 100%"}
TABLE: list[tuple[str, set[str]]] = [
    ("today", {"today-timed", "today-allday"}),
    ("TODAY", {"today-timed", "today-allday"}),
    ("tomorrow", {"tomorrow-timed", "tomorrow-allday"}),
    ("overdue", {"overdue-timed", "overdue-allday", "tokyo-yesterday"}),
    ("no date", {"no-date", "subtask", "percent 100%"}),
    (
        "next 7 days",
        {"today-timed", "today-allday", "tomorrow-timed", "tomorrow-allday", "in-6-days", "recurring"},
    ),
    ("7 days", {"today-timed", "today-allday", "tomorrow-timed", "tomorrow-allday", "in-6-days", "recurring"}),
    ("next 3 days", {"today-timed", "today-allday", "tomorrow-timed", "tomorrow-allday"}),
    ("p1", {"today-timed", "today-allday", "overdue-timed"}),
    ("p2", {"overdue-allday", "in-6-days"}),
    ("p3", {"tokyo-yesterday", "subtask"}),
    ("p4", P4),
    ("no priority", P4 - {"tomorrow-timed"}),
    ("#work", {"today-timed", "today-allday"}),
    ("#WORK", {"today-timed", "today-allday"}),
    ("##Home", {"tomorrow-timed", "no-date"}),
    ("#Nowhere", set()),
    ("no list", ALL - {"today-timed", "today-allday", "tomorrow-timed", "no-date"}),
    ("@waiting", {"today-timed", "no-date"}),
    ("@home", {"overdue-timed", "no-date"}),
    ("@nothing", set()),
    ("search: milk", {"no-date"}),
    ("search: 100%", {"percent 100%"}),
    ("search: _", set()),
    ("recurring", {"recurring"}),
    ("subtask", {"subtask"}),
    ("all-day", {"today-allday", "overdue-allday", "tomorrow-allday", "in-6-days", "in-7-days"}),
    ("(today | overdue) & p1 & !@waiting", {"today-allday", "overdue-timed"}),
    ("today | overdue & p2", {"today-timed", "today-allday", "overdue-allday"}),
    ("(today | overdue) & p2", {"overdue-allday"}),
    ("!no date & !all-day & p4", {"tomorrow-timed", "recurring"}),
    ("!(p1 | p2 | p3)", P4),
    ("!!p1", {"today-timed", "today-allday", "overdue-timed"}),
    ("#Home & @home", {"no-date"}),
    ("subtask | recurring | search: shop", {"subtask", "recurring", "no-date"}),
]


def titles(app, query: str, **params) -> set[str]:
    resp = app.request("GET", "/api/{me}/tasks", params={"filter": query, "limit": 200, **params})
    assert resp.status_code == 200, (query, resp.text)
    return {t["title"] for t in resp.json()["items"]}


def test_each_query_returns_exactly_its_tasks(app):
    make_tasks(app)
    assert titles(app, "today | !today") == ALL
    wrong = {q: (titles(app, q), want) for q, want in TABLE if titles(app, q) != want}
    assert not wrong


def test_a_filter_combines_with_the_other_parameters_and_pages(app):
    made = make_tasks(app)
    done = app.request("PATCH", f"/api/{{me}}/tasks/{made['today-allday']['id']}/complete")
    assert done.status_code == 200
    assert titles(app, "p1", completed="false") == {"today-timed", "overdue-timed"}
    assert titles(app, "p1", completed="true") == {"today-allday"}
    assert titles(app, "p1", tag="home") == {"overdue-timed"}
    seen, cursor = [], None
    while True:
        params = {"filter": "p4", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = app.request("GET", "/api/{me}/tasks", params=params).json()
        seen += [t["title"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(P4)


def test_another_persons_lists_and_tags_never_match(app):
    make_tasks(app)
    other = Client(app.base).signup()
    theirs = other.request("POST", "/api/{me}/lists", json={"name": "Secret"}).json()
    other.create_task(title="their task", list_id=theirs["id"], tags=["waiting"])
    assert titles(app, "#Secret") == set()
    assert "their task" not in titles(app, "@waiting | no list")
    assert {t["title"] for t in other.request("GET", "/api/{me}/tasks?filter=%23secret").json()["items"]} == {
        "their task"
    }


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ("today &", 7, "a term"),
        ("today overdue", 6, "&, | or the end"),
        ("p5", 0, "a term"),
        ("(today | p1", 11, "')'"),
        ("today)", 5, "&, | or the end"),
        ("today, overdue", 5, "not supported"),
        ("#", 1, "a list name"),
        ("p1 & @ ", 6, "a tag"),
        ("search:   ", 7, "the text to search"),
        ("", 0, "a term"),
        ("next 999 days", 0, "a term"),
    ],
)
def test_a_query_that_does_not_read_is_a_422_naming_the_position(api, query, position, expected):
    resp = api.request("GET", "/api/{me}/tasks", params={"filter": query})
    if query == "":
        assert resp.status_code == 200  # an empty filter is no filter
        return
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["position"] == position
    assert f"at {position}" in body["errors"]["filter"] and expected in body["errors"]["filter"]


def test_bounded_length_and_depth(api):
    long = api.request("GET", "/api/{me}/tasks", params={"filter": "p1 | " * 200 + "p1"})
    assert long.status_code == 422 and "1000" in long.json()["errors"]["filter"]
    deep = api.request("GET", "/api/{me}/tasks", params={"filter": "(" * 40 + "p1" + ")" * 40})
    assert deep.status_code == 422 and "nesting" in deep.json()["errors"]["filter"]
    nots = api.request("GET", "/api/{me}/tasks", params={"filter": "!" * 33 + "p1"})
    assert nots.status_code == 422
    fine = api.request("GET", "/api/{me}/tasks", params={"filter": "(" * 10 + "p1" + ")" * 10})
    assert fine.status_code == 200
