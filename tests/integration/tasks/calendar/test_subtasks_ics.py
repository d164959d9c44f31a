"""Sub-tasks in calendars: the feed names a sub-task's parent (RELATED-TO), the .ics import links them again."""

from __future__ import annotations

from tests.support.calendar import feed_url, fetch, import_ics

TREE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//Example//EN
BEGIN:VTODO
UID:pack@example.com
SUMMARY:Pack the boxes
RELATED-TO:move@example.com
END:VTODO
BEGIN:VTODO
UID:move@example.com
SUMMARY:Move house
END:VTODO
BEGIN:VTODO
UID:books@example.com
SUMMARY:Pack the books
RELATED-TO;RELTYPE=PARENT:pack@example.com
END:VTODO
BEGIN:VTODO
UID:orphan@example.com
SUMMARY:Call the landlord
RELATED-TO:elsewhere@example.com
END:VTODO
END:VCALENDAR
""".replace("\n", "\r\n")


def by_title(api) -> dict[str, dict]:
    items = api.request("GET", "/api/{me}/tasks", params={"limit": 50}).json()["items"]
    return {t["title"]: t for t in items}


def test_the_feed_names_the_parent_of_a_sub_task(api):
    parent = api.create_task(title="Move house")
    sub = api.create_task(title="Pack the boxes", parent_task_id=parent["id"])
    todos = {str(t["SUMMARY"]): t for t in fetch(api, feed_url(api), type="todo").walk("VTODO")}
    assert str(todos["Pack the boxes"]["RELATED-TO"]) == str(todos["Move house"]["UID"])
    assert str(todos["Pack the boxes"]["UID"]).startswith(sub["id"])
    assert "RELATED-TO" not in todos["Move house"]


def test_import_links_sub_tasks_to_parents_in_the_same_file(api):
    dry = import_ics(api, TREE, dry_run="true")
    assert dry.status_code == 200, dry.text
    done = import_ics(api, TREE)
    assert done.status_code == 201, done.text
    reasons = [u for u in done.json()["unsupported"] if u["property"] == "RELATED-TO"]
    assert len(reasons) == 1 and reasons[0]["line"] == 21 and "top level" in reasons[0]["reason"]
    tasks = by_title(api)
    assert tasks["Pack the boxes"]["parent_task_id"] == tasks["Move house"]["id"]
    assert tasks["Pack the books"]["parent_task_id"] == tasks["Pack the boxes"]["id"]
    assert tasks["Move house"]["parent_task_id"] is None
    assert tasks["Call the landlord"]["parent_task_id"] is None
    assert tasks["Move house"]["subtasks"] == {"open": 1, "done": 0}


def test_feed_then_import_keeps_the_tree(api):
    parent = api.create_task(title="Trip")
    child = api.create_task(title="Tickets", parent_task_id=parent["id"])
    api.create_task(title="Seats", parent_task_id=child["id"])
    exported = api.http.get(feed_url(api), params={"type": "todo"}, timeout=30).content
    for task in by_title(api).values():  # an empty account receives the export
        api.request("DELETE", f"/api/{{me}}/tasks/{task['id']}")
    assert by_title(api) == {}
    assert import_ics(api, exported).status_code == 201
    tasks = by_title(api)
    assert tasks["Tickets"]["parent_task_id"] == tasks["Trip"]["id"]
    assert tasks["Seats"]["parent_task_id"] == tasks["Tickets"]["id"]
