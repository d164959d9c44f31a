"""Sub-tasks over real HTTP on PostgreSQL: placing them, the limits on trees, counts, and the cascades."""

from __future__ import annotations

import sqlalchemy as sa

from shared.persistence.db import make_engine
from shared.persistence.models import Outbox
from tests.support.live import Client


def events(db_url) -> list[tuple[str, dict]]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(sa.select(Outbox.event_type, Outbox.payload).order_by(Outbox.id)).all()
    engine.dispose()
    return [(r.event_type, r.payload["data"]) for r in found]


def task(api, tid) -> dict:
    resp = api.request("GET", f"/api/{{me}}/tasks/{tid}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def patch(api, tid, **changes):
    base = task(api, tid)["version"]
    return api.request("PATCH", f"/api/{{me}}/tasks/{tid}", json={"base_version": base, "changes": changes})


def chain(api, depth: int) -> list[str]:
    ids = [api.create_task(title="level 1")["id"]]
    for level in range(2, depth + 1):
        ids.append(api.create_task(title=f"level {level}", parent_task_id=ids[-1])["id"])
    return ids


def test_a_sub_task_names_its_parent_and_joins_its_list(api):
    inbox_list = api.request("POST", "/api/{me}/lists", json={"name": "Home"}).json()
    parent = api.create_task(title="Move house", list_id=inbox_list["id"])
    sub = api.create_task(title="Book the van", parent_task_id=parent["id"])
    assert sub["parent_task_id"] == parent["id"] and sub["list_id"] == inbox_list["id"]
    assert sub["subtasks"] == {"open": 0, "done": 0}
    assert task(api, parent["id"])["subtasks"] == {"open": 1, "done": 0}
    other_list = api.request("POST", "/api/{me}/lists", json={"name": "Work"}).json()
    refused = api.request(
        "POST", "/api/{me}/tasks", json={"title": "x", "parent_task_id": parent["id"], "list_id": other_list["id"]}
    )
    assert refused.status_code == 422 and "list_id" in refused.json()["errors"]


def test_subtasks_route_lists_the_direct_children_in_order(api):
    parent = api.create_task(title="Trip")
    first = api.create_task(title="Tickets", parent_task_id=parent["id"])
    second = api.create_task(title="Hotel", parent_task_id=parent["id"])
    api.create_task(title="Deposit", parent_task_id=second["id"])  # a grandchild is not a direct child
    items = api.request("GET", f"/api/{{me}}/tasks/{parent['id']}/subtasks").json()["items"]
    assert [t["id"] for t in items] == [first["id"], second["id"]]
    assert items[1]["subtasks"] == {"open": 1, "done": 0}
    assert api.request("GET", "/api/{me}/tasks/no-such-task/subtasks").status_code == 404


def test_depth_five_is_refused_on_create_and_on_move(api):
    ids = chain(api, 4)
    deep = api.request("POST", "/api/{me}/tasks", json={"title": "level 5", "parent_task_id": ids[-1]})
    assert deep.status_code == 422 and "parent_task_id" in deep.json()["errors"]
    # a two-level tree cannot move under level 3: its child would be at level 5
    top = api.create_task(title="other")
    api.create_task(title="its child", parent_task_id=top["id"])
    moved = patch(api, top["id"], parent_task_id=ids[2])
    assert moved.status_code == 422
    assert task(api, top["id"])["parent_task_id"] is None
    assert patch(api, top["id"], parent_task_id=ids[1]).status_code == 200  # levels 3 and 4: fine


def test_a_task_cannot_move_under_itself_or_its_descendants(api):
    ids = chain(api, 3)
    assert patch(api, ids[0], parent_task_id=ids[2]).status_code == 422
    assert patch(api, ids[0], parent_task_id=ids[0]).status_code == 422
    put = api.request("PUT", f"/api/{{me}}/tasks/{ids[1]}", json={"parent_task_id": ids[2]})
    assert put.status_code == 422
    assert [task(api, i)["parent_task_id"] for i in ids] == [None, ids[0], ids[1]]


def test_null_moves_a_sub_task_to_the_top_level(api):
    ids = chain(api, 2)
    resp = api.request("PUT", f"/api/{{me}}/tasks/{ids[1]}", json={"parent_task_id": None})
    assert resp.status_code == 200 and resp.json()["parent_task_id"] is None
    assert task(api, ids[0])["subtasks"] == {"open": 0, "done": 0}


def test_another_users_task_is_never_a_parent(api):
    other = Client(api.base).signup()
    theirs = other.create_task(title="theirs")
    mine = api.create_task(title="mine")
    created = api.request("POST", "/api/{me}/tasks", json={"title": "x", "parent_task_id": theirs["id"]})
    assert created.status_code == 422 and created.json()["errors"]["parent_task_id"] == "no such task"
    assert patch(api, mine["id"], parent_task_id=theirs["id"]).status_code == 422
    assert api.request("GET", f"/api/{{me}}/tasks/{theirs['id']}/subtasks").status_code == 404
    assert other.request("GET", f"/api/{{me}}/tasks/{theirs['id']}").json()["subtasks"] == {"open": 0, "done": 0}
    missing = api.request("POST", "/api/{me}/tasks", json={"title": "x", "parent_task_id": "nope"})
    assert missing.status_code == 422


def test_counts_in_a_page_and_top_level_filter(api):
    parent = api.create_task(title="parent")
    subs = [api.create_task(title=f"sub {i}", parent_task_id=parent["id"]) for i in range(3)]
    api.request("PATCH", f"/api/{{me}}/tasks/{subs[0]['id']}/complete")
    loose = api.create_task(title="loose")
    page = api.request("GET", "/api/{me}/tasks").json()["items"]
    by_id = {t["id"]: t for t in page}
    assert by_id[parent["id"]]["subtasks"] == {"open": 2, "done": 1}
    assert by_id[subs[1]["id"]]["parent_task_id"] == parent["id"]
    top = api.request("GET", "/api/{me}/tasks", params={"parent_task_id": "none"}).json()["items"]
    assert {t["id"] for t in top} == {parent["id"], loose["id"]}
    under = api.request("GET", "/api/{me}/tasks", params={"parent_task_id": parent["id"]}).json()["items"]
    assert {t["id"] for t in under} == {s["id"] for s in subs}


def test_completing_a_parent_completes_its_open_subtasks_and_reopening_restores_only_those(api, db_url):
    parent = api.create_task(title="parent")
    done_before = api.create_task(title="done before", parent_task_id=parent["id"])
    child = api.create_task(title="child", parent_task_id=parent["id"])
    grandchild = api.create_task(title="grandchild", parent_task_id=child["id"])
    api.request("PATCH", f"/api/{{me}}/tasks/{done_before['id']}/complete")
    before = len(events(db_url))

    resp = api.request("PATCH", f"/api/{{me}}/tasks/{parent['id']}/complete")
    assert resp.status_code == 200 and resp.json()["subtasks"] == {"open": 0, "done": 2}
    assert task(api, grandchild["id"])["completed"] and task(api, child["id"])["completed"]
    cascade = events(db_url)[before:]
    assert [(kind, data["id"]) for kind, data in cascade] == [
        ("task.completed", grandchild["id"]),
        ("task.completed", child["id"]),
        ("task.completed", parent["id"]),
    ]
    assert sorted(cascade[-1][1]["cascade"]) == sorted([child["id"], grandchild["id"]])

    before = len(events(db_url))
    undo = api.request("PATCH", f"/api/{{me}}/tasks/{parent['id']}/complete", json={"completed": False})
    assert undo.status_code == 200 and undo.json()["completed"] is False
    assert not task(api, child["id"])["completed"] and not task(api, grandchild["id"])["completed"]
    assert task(api, done_before["id"])["completed"]  # completed on its own before: stays done
    reopened = events(db_url)[before:]
    assert sorted(data["id"] for kind, data in reopened if kind == "task.uncompleted") == sorted(
        [parent["id"], child["id"], grandchild["id"]]
    )


def test_a_patch_completing_a_parent_cascades_too(api):
    parent = api.create_task(title="parent")
    child = api.create_task(title="child", parent_task_id=parent["id"])
    assert patch(api, parent["id"], completed=True).status_code == 200
    assert task(api, child["id"])["completed"]


def test_deleting_a_parent_deletes_its_subtasks_each_with_an_event(api, db_url):
    parent = api.create_task(title="parent")
    child = api.create_task(title="child", parent_task_id=parent["id"])
    grandchild = api.create_task(title="grandchild", parent_task_id=child["id"])
    before = len(events(db_url))
    assert api.request("DELETE", f"/api/{{me}}/tasks/{parent['id']}").status_code == 204
    for tid in (parent["id"], child["id"], grandchild["id"]):
        assert api.request("GET", f"/api/{{me}}/tasks/{tid}").status_code == 404
    deleted = events(db_url)[before:]
    assert {kind for kind, _ in deleted} == {"task.deleted"}
    assert [d["id"] for _, d in deleted] == [grandchild["id"], child["id"], parent["id"]]


def test_moving_a_parent_to_another_list_moves_its_subtasks(api, db_url):
    home = api.request("POST", "/api/{me}/lists", json={"name": "Home"}).json()
    parent = api.create_task(title="parent")
    child = api.create_task(title="child", parent_task_id=parent["id"])
    grandchild = api.create_task(title="grandchild", parent_task_id=child["id"])
    before = len(events(db_url))
    assert patch(api, parent["id"], list_id=home["id"]).status_code == 200
    assert [task(api, t)["list_id"] for t in (child["id"], grandchild["id"])] == [home["id"], home["id"]]
    moved = events(db_url)[before:]
    assert sorted(d["id"] for kind, d in moved if kind == "task.updated") == sorted(
        [parent["id"], child["id"], grandchild["id"]]
    )
    # a sub-task moved alone to another list becomes a top-level task there
    work = api.request("POST", "/api/{me}/lists", json={"name": "Work"}).json()
    alone = patch(api, grandchild["id"], list_id=work["id"]).json()
    assert alone["parent_task_id"] is None and alone["list_id"] == work["id"]
    # moving under a parent joins the parent's list
    joined = patch(api, grandchild["id"], parent_task_id=parent["id"]).json()
    assert joined["list_id"] == home["id"]


def test_recurring_tasks_stay_out_of_trees(api):
    series = api.create_task(title="daily", due_date="2030-01-01T09:00:00Z", recurrence_rule="FREQ=DAILY")
    under_series = api.request("POST", "/api/{me}/tasks", json={"title": "x", "parent_task_id": series["id"]})
    assert under_series.status_code == 422
    parent = api.create_task(title="parent")
    recurring_sub = api.request(
        "POST",
        "/api/{me}/tasks",
        json={
            "title": "x",
            "parent_task_id": parent["id"],
            "due_date": "2030-01-01T09:00:00Z",
            "recurrence_rule": "FREQ=DAILY",
        },
    )
    assert recurring_sub.status_code == 422
    assert patch(api, series["id"], parent_task_id=parent["id"]).status_code == 422
    child = api.create_task(title="child", parent_task_id=parent["id"])
    made_recurring = api.request(
        "POST", f"/api/{{me}}/tasks/{child['id']}/recurrence", json={"recurrence_rule": "FREQ=DAILY"}
    )
    assert made_recurring.status_code == 422
    assert api.request("GET", "/api/{me}/tasks", params={"parent_task_id": series["id"]}).json()["items"] == []


def test_a_page_counts_sub_tasks_in_one_grouped_query(api):
    parents = [api.create_task(title=f"parent {i}") for i in range(5)]
    for parent in parents:
        api.create_task(title="child", parent_task_id=parent["id"])
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        page = api.request("GET", "/api/{me}/tasks", params={"limit": 50}).json()["items"]
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert all(t["subtasks"] == {"open": 1, "done": 0} for t in page if t["title"].startswith("parent"))
    counting = [s for s in statements if "count(" in s.lower() and "parent_task_id" in s]
    assert len(counting) == 1, counting
