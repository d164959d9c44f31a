"""Saved filters over real HTTP on PostgreSQL: CRUD with counts, filter.* events through the outbox,
isolation, bad input (a query that does not read is a 422 on save, nothing stored), and random
queries through GET /tasks?filter= answering 200 or 422, never 500."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.persistence.models import Outbox, SavedFilter
from tests.support.examples import examples
from tests.support.live import Client


def events_of(api) -> list[tuple[str, dict]]:
    with api.rt.sessions() as s:
        rows = s.execute(sa.select(Outbox.event_type, Outbox.payload).order_by(Outbox.id)).all()
    return [(t, p["data"]) for t, p in rows if t.startswith("filter.")]


def test_saved_filter_crud_with_counts_and_events(api):
    api.create_task(title="urgent", priority="urgent")
    api.create_task(title="waiting", priority="urgent", tags=["waiting"])
    api.create_task(title="low", priority="low")
    resp = api.request("POST", "/api/{me}/filters", json={"name": " Urgent ", "query": " p1 & !@waiting "})
    assert resp.status_code == 201, resp.text
    urgent = resp.json()
    assert resp.headers["Location"].endswith(f"/filters/{urgent['id']}")
    assert {k: urgent[k] for k in ("name", "query", "color", "position")} == {
        "name": "Urgent",
        "query": "p1 & !@waiting",
        "color": "#808080",
        "position": 1.0,
    }
    later = api.request("POST", "/api/{me}/filters", json={"name": "Waiting", "query": "@waiting", "color": "#DC2626"})
    assert later.status_code == 201 and later.json()["position"] == 2.0 and later.json()["color"] == "#dc2626"
    items = api.request("GET", "/api/{me}/filters").json()["items"]
    assert [(i["name"], i["count"]) for i in items] == [("Urgent", 1), ("Waiting", 1)]
    changed = api.request("PUT", f"/api/{{me}}/filters/{urgent['id']}", json={"query": "p1 | p4"})
    assert changed.status_code == 200 and changed.json()["query"] == "p1 | p4" and changed.json()["version"] == 2
    items = api.request("GET", "/api/{me}/filters").json()["items"]
    assert [(i["name"], i["count"]) for i in items] == [("Urgent", 3), ("Waiting", 1)]
    assert api.request("DELETE", f"/api/{{me}}/filters/{urgent['id']}").status_code == 204
    assert [i["name"] for i in api.request("GET", "/api/{me}/filters").json()["items"]] == ["Waiting"]
    assert api.request("DELETE", f"/api/{{me}}/filters/{urgent['id']}").status_code == 404
    seen = events_of(api)
    assert [t for t, _ in seen] == ["filter.created", "filter.created", "filter.updated", "filter.deleted"]
    assert seen[2][1]["changes"] == {"query": {"old": "p1 & !@waiting", "new": "p1 | p4"}}
    assert seen[3][1]["deleted"] is True and seen[3][1]["id"] == urgent["id"]


def test_a_bad_query_is_a_422_on_save_and_nothing_is_stored(api):
    resp = api.request("POST", "/api/{me}/filters", json={"name": "Broken", "query": "today &"})
    assert resp.status_code == 422
    assert (
        resp.json()["errors"]["query"].startswith("expected a term (such as today, p1, #list or @tag) at 7")
        and resp.json()["position"] == 7
    )
    for body in (
        {"name": "", "query": "p1"},
        {"name": "x", "query": ""},
        {"name": "x", "query": "p1" * 600},
        {"name": "x", "query": "p1", "color": "red"},
        {"name": "x"},
        {"name": "x", "query": "p1", "extra": 1},
        {"name": 5, "query": "p1"},
    ):
        assert api.request("POST", "/api/{me}/filters", json=body).status_code == 422, body
    saved = api.request("POST", "/api/{me}/filters", json={"name": "Ok", "query": "p1"}).json()
    bad = api.request("PUT", f"/api/{{me}}/filters/{saved['id']}", json={"query": "p1 p2"})
    assert bad.status_code == 422 and bad.json()["position"] == 3
    with api.rt.sessions() as s:
        assert s.scalars(sa.select(SavedFilter.query)).all() == ["p1"]
    assert [t for t, _ in events_of(api)] == ["filter.created"]


def test_another_persons_filters_are_not_found(api):
    other = Client(api.base).signup()
    theirs = other.request("POST", "/api/{me}/filters", json={"name": "Theirs", "query": "p1"}).json()
    assert api.request("PUT", f"/api/{{me}}/filters/{theirs['id']}", json={"name": "Mine"}).status_code == 404
    assert api.request("DELETE", f"/api/{{me}}/filters/{theirs['id']}").status_code == 404
    assert api.request("GET", "/api/{me}/filters").json()["items"] == []
    assert api.request("GET", f"/api/{other.user_id}/filters").status_code == 403
    assert [i["name"] for i in other.request("GET", "/api/{me}/filters").json()["items"]] == ["Theirs"]


PIECES = st.sampled_from(
    [
        "today",
        "overdue",
        "no date",
        "7 days",
        "p1",
        "p3",
        "#Work",
        "#",
        "@waiting",
        "@",
        "search: 5%",
        "search:",
        "recurring",
        "subtask",
        "all-day",
        "&",
        "|",
        "!",
        "(",
        ")",
        ",",
        "next",
        "'",
        ";",
        "\\",
        "\x00",
        "é",
    ]
)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.lists(PIECES, max_size=12).map(" ".join), st.text(max_size=40)))
def test_random_queries_answer_200_or_422_never_500(api, query):
    resp = api.request("GET", "/api/{me}/tasks", params={"filter": query})
    assert resp.status_code in (200, 422), (query, resp.status_code, resp.text)


def test_awkward_characters_are_text_not_errors(api):
    api.create_task(title="100% done_ish")
    for query in ("search: \x00", "#\x00", "@\x00", "search: 100%", "search: '; drop table tasks; --", "@é & #ü"):
        resp = api.request("GET", "/api/{me}/tasks", params={"filter": query})
        assert resp.status_code in (200, 422), (query, resp.text)
    found = api.request("GET", "/api/{me}/tasks", params={"filter": "search: 100%"}).json()["items"]
    assert [t["title"] for t in found] == ["100% done_ish"]
