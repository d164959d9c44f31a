"""Sections of a list over real HTTP on PostgreSQL: CRUD, order, tasks placed in them, delete moves tasks, isolation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.persistence.db import make_engine
from shared.persistence.models import Outbox
from tests.support.live import Client


def events_of(db_url: str) -> list[tuple[str, dict]]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(sa.select(Outbox.event_type, Outbox.payload).order_by(Outbox.id)).all()
    engine.dispose()
    return [(r.event_type, r.payload) for r in found]


def new_list(api, name="Home") -> dict:
    resp = api.request("POST", "/api/{me}/lists", json={"name": name})
    assert resp.status_code == 201, resp.text
    return resp.json()


def new_section(api, list_id: str, **body) -> dict:
    resp = api.request("POST", f"/api/{{me}}/lists/{list_id}/sections", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_sections_are_created_renamed_reordered_and_listed_in_order_each_with_an_event(api, db_url):
    home = new_list(api)
    first = new_section(api, home["id"], name=" Today ")
    assert first["name"] == "Today" and first["list_id"] == home["id"] and first["position"] == 1
    second = new_section(api, home["id"], name="Later")
    assert second["position"] > first["position"]
    path = f"/api/{{me}}/lists/{home['id']}/sections"
    assert [s["name"] for s in api.request("GET", path).json()["items"]] == ["Today", "Later"]
    moved = api.request("PUT", f"{path}/{second['id']}", json={"position": 0.5, "name": "Soon"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["name"] == "Soon" and moved.json()["version"] == 2
    assert [s["name"] for s in api.request("GET", path).json()["items"]] == ["Soon", "Today"]
    types = [(t, p["aggregate_id"]) for t, p in events_of(db_url) if t.startswith("section.")]
    assert types == [
        ("section.created", first["id"]),
        ("section.created", second["id"]),
        ("section.updated", second["id"]),
    ]
    changes = [p["data"]["changes"] for t, p in events_of(db_url) if t == "section.updated"][0]
    assert changes == {"name": {"old": "Later", "new": "Soon"}, "position": {"old": 2.0, "new": 0.5}}


def test_tasks_are_placed_in_a_section_of_their_list_and_leave_it_when_moved_to_another_list(api):
    home, work = new_list(api, "Home"), new_list(api, "Work")
    kitchen = new_section(api, home["id"], name="Kitchen")
    task = api.create_task(title="Descale the kettle", list_id=home["id"], section_id=kitchen["id"])
    assert task["section_id"] == kitchen["id"]
    fetched = api.request("GET", f"/api/{{me}}/tasks/{task['id']}").json()
    assert fetched["section_id"] == kitchen["id"]
    listed = api.request("GET", f"/api/{{me}}/tasks?list_id={home['id']}").json()["items"]
    assert listed[0]["section_id"] == kitchen["id"]
    out = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"section_id": None})
    assert out.status_code == 200 and out.json()["section_id"] is None
    back = api.request(
        "PATCH",
        f"/api/{{me}}/tasks/{task['id']}",
        json={"base_version": out.json()["version"], "changes": {"section_id": kitchen["id"]}},
    )
    assert back.status_code == 200, back.text
    assert back.json()["section_id"] == kitchen["id"]
    moved = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"list_id": work["id"]})
    assert moved.status_code == 200 and moved.json()["list_id"] == work["id"] and moved.json()["section_id"] is None


def test_a_section_of_another_list_or_no_list_is_refused_and_nothing_is_stored(api):
    home, work = new_list(api, "Home"), new_list(api, "Work")
    kitchen = new_section(api, home["id"], name="Kitchen")
    for body in ({"list_id": work["id"]}, {}):
        resp = api.request("POST", "/api/{me}/tasks", json={"title": "x", "section_id": kitchen["id"], **body})
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"] == {"section_id": "is a section of another list"}
    task = api.create_task(title="in work", list_id=work["id"])
    resp = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"section_id": kitchen["id"]})
    assert resp.status_code == 422 and resp.json()["errors"] == {"section_id": "is a section of another list"}
    missing = api.request("POST", "/api/{me}/tasks", json={"title": "x", "list_id": home["id"], "section_id": "nope"})
    assert missing.status_code == 422 and missing.json()["errors"] == {"section_id": "no such section"}
    # moving the task and naming a section of its new list in one change is fine
    both = api.request(
        "PUT", f"/api/{{me}}/tasks/{task['id']}", json={"list_id": home["id"], "section_id": kitchen["id"]}
    )
    assert both.status_code == 200 and both.json()["section_id"] == kitchen["id"]
    titles = [t["title"] for t in api.request("GET", "/api/{me}/tasks").json()["items"]]
    assert titles == ["in work"]


def test_deleting_a_section_moves_its_tasks_to_the_lists_top_each_with_task_updated(api, db_url):
    home = new_list(api)
    doomed = new_section(api, home["id"], name="Doomed")
    keep = new_section(api, home["id"], name="Keep")
    t1 = api.create_task(title="one", list_id=home["id"], section_id=doomed["id"])
    t2 = api.create_task(title="two", list_id=home["id"], section_id=doomed["id"])
    t3 = api.create_task(title="three", list_id=home["id"], section_id=keep["id"])
    path = f"/api/{{me}}/lists/{home['id']}/sections"
    assert api.request("DELETE", f"{path}/{doomed['id']}").status_code == 204
    assert [s["name"] for s in api.request("GET", path).json()["items"]] == ["Keep"]
    for t, section in ((t1, None), (t2, None), (t3, keep["id"])):
        now = api.request("GET", f"/api/{{me}}/tasks/{t['id']}").json()
        assert now["list_id"] == home["id"] and now["section_id"] == section
    tail = [(t, p["aggregate_id"], p["data"].get("changes")) for t, p in events_of(db_url)][-3:]
    gone = {"section_id": {"old": doomed["id"], "new": None}}
    assert sorted(tail[:2]) == sorted([("task.updated", t1["id"], gone), ("task.updated", t2["id"], gone)])
    assert tail[2][:2] == ("section.deleted", doomed["id"])
    assert api.request("DELETE", f"{path}/{doomed['id']}").status_code == 404


def test_deleting_a_list_deletes_its_sections(api):
    home = new_list(api)
    new_section(api, home["id"], name="Gone with it")
    assert api.request("DELETE", f"/api/{{me}}/lists/{home['id']}").status_code == 204
    assert api.request("GET", f"/api/{{me}}/lists/{home['id']}/sections").status_code == 404


def test_another_users_sections_and_lists_are_never_found_nor_linked(api):
    mine = new_list(api, "Mine")
    other = Client(api.base).signup()
    theirs = other.request("POST", "/api/{me}/lists", json={"name": "Theirs"}).json()
    their_section = other.request("POST", f"/api/{{me}}/lists/{theirs['id']}/sections", json={"name": "S"}).json()
    base = f"/api/{{me}}/lists/{theirs['id']}/sections"
    for method, path, body in (
        ("GET", base, None),
        ("POST", base, {"name": "sneak"}),
        ("PUT", f"{base}/{their_section['id']}", {"name": "x"}),
        ("DELETE", f"{base}/{their_section['id']}", None),
        # their section under my list's address is not found either
        ("PUT", f"/api/{{me}}/lists/{mine['id']}/sections/{their_section['id']}", {"name": "x"}),
    ):
        resp = api.request(method, path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    sneak = api.request(
        "POST", "/api/{me}/tasks", json={"title": "x", "list_id": mine["id"], "section_id": their_section["id"]}
    )
    assert sneak.status_code == 422 and sneak.json()["errors"] == {"section_id": "no such section"}
    assert [s["name"] for s in other.request("GET", f"{base}").json()["items"]] == ["S"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": None}, "name"),
        ({"name": 5}, "name"),
        ({"name": "ok", "position": "first"}, "position"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_bad_section_bodies_are_422_and_store_nothing(api, body, field):
    home = new_list(api)
    path = f"/api/{{me}}/lists/{home['id']}/sections"
    resp = api.request("POST", path, json=body)
    assert resp.status_code == 422, resp.text
    assert field in resp.json()["errors"]
    section = new_section(api, home["id"], name="Fine")
    if field in ("name", "position"):
        bad_put = api.request("PUT", f"{path}/{section['id']}", json={field: body.get(field, None)})
        assert bad_put.status_code == 422, bad_put.text
    assert [s["name"] for s in api.request("GET", path).json()["items"]] == ["Fine"]
