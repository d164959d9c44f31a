"""Moving in from Todoist (POST /import/todoist) and exporting everything (GET /export).

tests/data/todoist/moving_house.csv is Todoist's project CSV template as their help article describes
it: a BOM, CRLF line ends, sections, three levels of sub-tasks, notes, @labels, a multi-line quoted
description with commas, dates in words (every, every!, all-day dates), priorities 1-4 and empty,
DATE_LANG and TIMEZONE, and columns TaskFlow does not keep (AUTHOR, RESPONSIBLE, DURATION).
"""

from __future__ import annotations

import pathlib

import pytest
import sqlalchemy as sa

from functions.tasks.todoist import apply
from shared.persistence.models import Comment, Outbox, Preferences, SavedFilter, Section, Task, TaskList
from tests.conftest import with_
from tests.support.calendar import api_server
from tests.support.rows import rows

CSV = (pathlib.Path(__file__).parents[2] / "data" / "todoist" / "moving_house.csv").read_bytes()
HEADER = "TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE\r\n"
COUNTS = {"tasks": 7, "subtasks": 4, "sections": 2, "comments": 2, "series": 3}


def import_csv(api, data: bytes | str, **params):
    body = data.encode() if isinstance(data, str) else data
    params.setdefault("list", "Moving house")
    return api.request(
        "POST", "/api/{me}/import/todoist", params=params, data=body, headers={"Content-Type": "text/csv"}
    )


def export(api) -> dict:
    resp = api.request("GET", "/api/{me}/export")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.json()


def test_a_dry_run_reports_what_the_import_then_creates(api, db_url):
    dry = import_csv(api, CSV, dry_run="true")
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True and body["list"] is None
    assert body["created"] == COUNTS
    assert {(u["line"], u["column"]) for u in body["unsupported"]} == {
        (2, "AUTHOR"),
        (2, "DURATION"),
        (2, "DURATION_UNIT"),
        (16, "DATE_LANG"),
        (18, "AUTHOR"),
        (18, "RESPONSIBLE"),
    }
    assert rows(db_url, Task) == 0 and rows(db_url, TaskList) == 0 and rows(db_url, Outbox) == 0, "dry: nothing"

    done = import_csv(api, CSV)
    assert done.status_code == 201, done.text
    assert done.json()["created"] == COUNTS and done.json()["list"]["name"] == "Moving house"
    list_id = done.json()["list"]["id"]
    doc = export(api)
    tasks = {t["title"]: t for t in doc["tasks"]}
    assert len(tasks) == 11 and all(t["list_id"] == list_id for t in tasks.values())
    sections = {s["name"]: s for s in doc["sections"]}
    assert [s["name"] for s in doc["sections"]] == ["Packing", "Paperwork"]

    landlord = tasks["Call the landlord"]
    assert landlord["tags"] == ["phone", "admin"], "labels become tags, out of the title"
    multi_line = "Ask about the deposit, the keys, and the meter readings.\r\nMention the broken tap."
    assert landlord["description"] == multi_line
    assert landlord["priority"] == "urgent" and landlord["timezone"] == "Europe/Berlin"
    assert landlord["due_date"].endswith("T17:00:00+01:00") and landlord["all_day"] is False
    assert landlord["section_id"] is None and landlord["parent_task_id"] is None

    kitchen, plates = tasks["Pack the kitchen"], tasks["Wrap the plates"]
    wrap, boxes = tasks["Buy bubble wrap"], tasks["Ask the neighbours for boxes"]
    assert (kitchen["priority"], plates["priority"], wrap["priority"], boxes["priority"]) == (
        "high",
        "medium",
        "none",
        "none",
    ), "p2 high, p3 medium, p4 and empty: no priority"
    assert plates["parent_task_id"] == kitchen["id"]
    assert wrap["parent_task_id"] == plates["id"]
    assert boxes["parent_task_id"] == wrap["id"], "INDENT 4: three levels of sub-tasks"
    assert {kitchen["section_id"], plates["section_id"], boxes["section_id"]} == {sections["Packing"]["id"]}
    assert wrap["all_day"] is True and wrap["due_date"].endswith("-12-24") and wrap["tags"] == ["errands"]

    books = tasks["Pack the books"]
    assert books["recurrence_rule"] == "FREQ=WEEKLY;INTERVAL=2" and books["repeat_from"] == "completion"
    plants = tasks["Water the plants"]
    assert plants["recurrence_rule"] == "FREQ=DAILY" and plants["repeat_from"] == "schedule" and plants["all_day"]
    address = tasks["Change the address"]
    assert address["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=MO" and address["timezone"] == "America/New_York"
    assert address["due_date"].endswith("T09:00:00-05:00") and address["description"] == 'Bank, insurance, "Bürgeramt"'
    assert plants["section_id"] == address["section_id"] == sections["Paperwork"]["id"]
    assert tasks["Sell the old sofa"]["due_date"] is None, "DATE_LANG de: reported, no due date"
    flat = tasks["Measure the new flat"]
    assert flat["parent_task_id"] == tasks["Sell the old sofa"]["id"]
    assert (flat["due_date"], flat["all_day"]) == ("2027-01-15", True)
    assert tasks["Label the boxes"]["priority"] == "urgent"

    comments = {c["text"]: c["task_id"] for c in doc["comments"]}
    assert comments == {
        "Landlord: +49 30 1234567, evenings only": landlord["id"],
        "Try the supermarket too": boxes["id"],
    }
    with api.rt.sessions() as s:
        outbox = s.execute(sa.select(Outbox.event_type, Outbox.payload)).all()
    by_type: dict[str, list[dict]] = {}
    for event_type, payload in outbox:
        by_type.setdefault(event_type, []).append(payload["data"])
    assert len(by_type["list.created"]) == 1
    assert sorted(d["name"] for d in by_type["section.created"]) == ["Packing", "Paperwork"]
    # The section and comment events show them as the API's own events do (core/sections.view, core/comments.view).
    assert by_type["section.created"] == doc["sections"]
    created = {d["id"]: d for d in by_type["task.created"]}
    assert created.keys() == {t["id"] for t in tasks.values()}
    assert created[boxes["id"]]["parent_task_id"] == wrap["id"]
    assert created[boxes["id"]]["section_id"] == sections["Packing"]["id"]
    added = by_type["comment.added"]
    assert {d["task_id"] for d in added} == {landlord["id"], boxes["id"]}
    assert sorted(added, key=lambda d: d["id"]) == sorted(doc["comments"], key=lambda d: d["id"])
    assert set(added[0]) == {"id", "task_id", "text", "version", "created_at", "edited_at"}

    # Filed under their tasks (the aggregate the history reads), as the API files a comment.
    with api.rt.sessions() as s:
        filed = s.scalars(sa.select(Outbox.payload).where(Outbox.event_type == "comment.added"))
        assert {payload["aggregate_id"]: payload["data"]["task_id"] for payload in filed} == {
            landlord["id"]: landlord["id"],
            boxes["id"]: boxes["id"],
        }


def test_the_list_name_must_be_new_and_given(api, db_url):
    api.request("POST", "/api/{me}/lists", json={"name": "Moving House"})
    taken = import_csv(api, CSV)
    assert taken.status_code == 409 and taken.json()["errors"] == {"list": "a list of that name exists"}
    assert import_csv(api, CSV, list=" ").status_code == 422
    no_list = api.request("POST", "/api/{me}/import/todoist", data=CSV, headers={"Content-Type": "text/csv"})
    assert no_list.status_code == 422
    assert rows(db_url, Task) == 0


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("just some words\r\nwithout a header\r\n", 1, "no TYPE or CONTENT column"),
        ("TYPE,TITLE\r\ntask,x\r\n", 1, "no CONTENT column"),
        (HEADER + "task,one,,,1\r\ntask,three,,,3\r\n", 3, "INDENT 3 needs a task of INDENT 2"),
        (HEADER + "task,one,,,2\r\n", 2, "INDENT 2 needs a task of INDENT 1"),
        (HEADER + "task,one,,,1\r\nsection,S\r\ntask,two,,,2\r\n", 4, "in the same section"),
        (HEADER + "task,one,,,5\r\n", 2, "INDENT is '5'"),
        (HEADER + "note,first\r\ntask,one\r\n", 2, "a note must come after the task"),
        (HEADER + "task,one\r\ntask,two,,0\r\n", 3, "PRIORITY is '0'"),
        (HEADER + "task,one,,high\r\n", 2, "PRIORITY is 'high'"),
        (HEADER + "Task,one\r\n", 2, "TYPE is 'Task'"),
        (HEADER + "task,@only @labels\r\n", 2, "needs its name"),
        (HEADER + 'task,"one\r\ntwo,\r\n', 2, "is not CSV"),
        (HEADER + "task," + "x" * 501 + "\r\n", 2, "at most 500"),
        (HEADER + "task,one,,,,,,,,,surplus,fields\r\n", 2, "has 12 fields"),
        ("", 1, "empty"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_stores_nothing(api, db_url, text, line, words):
    resp = import_csv(api, text)
    assert resp.status_code == 422, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    message = resp.json()["errors"]["file"]
    assert message.startswith(f"line {line}:") and words in message, message
    assert rows(db_url, Task) == 0 and rows(db_url, TaskList) == 0


def test_limits_media_type_encoding_and_ownership(api, serve, make_client, db_url):
    many = HEADER + "task,t\r\n" * 10_001
    resp = import_csv(api, many)
    assert resp.status_code == 422 and "more than 10000 rows" in resp.json()["errors"]["file"]
    huge = HEADER + "task," + "a" * (1024 * 1024) + "\r\n"
    assert import_csv(api, huge).status_code == 413
    wrong = api.request("POST", "/api/{me}/import/todoist?list=x", data=CSV, headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415
    latin1 = import_csv(api, HEADER.encode() + b"task,caf\xe9\r\n")
    assert latin1.status_code == 422 and latin1.json()["errors"] == {"body": "line 2: is not UTF-8 text"}
    no_bom = import_csv(api, CSV.removeprefix("\ufeff".encode()), dry_run="true")
    assert no_bom.status_code == 200 and no_bom.json()["created"] == COUNTS
    assert import_csv(api, CSV, dry_run="maybe").status_code == 422
    other = make_client(api_server(api, serve)).signup()
    stranger = other.request(
        "POST", f"/api/{api.user_id}/import/todoist?list=x", data=CSV, headers={"Content-Type": "text/csv"}
    )
    assert stranger.status_code == 403
    assert other.request("GET", f"/api/{api.user_id}/export").status_code == 403
    assert rows(db_url, Task) == 0


def test_a_failure_midway_leaves_nothing(api, db_url, monkeypatch):
    """The list, sections and tasks are inserted, then the comments fail: the one transaction stores nothing."""
    real = apply.build

    def broken(*args):
        rows = real(*args)
        rows.comments[-1]["task_id"] = "no-such-task"  # a foreign key the database refuses, after the tasks went in
        return rows

    monkeypatch.setattr(apply, "build", broken)
    resp = import_csv(api, CSV)
    assert resp.status_code == 500
    for model in (Task, TaskList, Section, Comment, Outbox):
        assert rows(db_url, model) == 0, model


def test_imports_are_throttled_per_client(settings, serve, make_client):
    from functions.tasks import create_app

    server = serve(create_app(with_(settings, run_background_workers=False, import_rate_limit="2 per minute")))
    api = make_client(server).signup()
    answers = [import_csv(api, CSV, dry_run="true") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.text for a in answers]
    assert int(answers[2].headers["Retry-After"]) > 0


def test_the_export_holds_every_kind_and_only_the_account_s_rows(api, serve, make_client):
    assert import_csv(api, CSV).status_code == 201
    task_id = next(t["id"] for t in export(api)["tasks"] if t["title"] == "Label the boxes")
    reminder = api.request("POST", f"/api/{{me}}/tasks/{task_id}/reminders", json={"remind_at": "2055-01-01T09:00:00Z"})
    assert reminder.status_code in (200, 201), reminder.text
    with api.rt.sessions() as s:
        s.add(Preferences(user_id=api.user_id, timezone="Europe/Berlin", email_reminders=False))
        s.add(SavedFilter(user_id=api.user_id, name="Urgent", query="p1", color="#ff0000", position=1.0, version=1))
        s.commit()
    other = make_client(api_server(api, serve)).signup()
    other.request("POST", "/api/{me}/tasks", json={"title": "Not yours"})
    other.request("POST", "/api/{me}/lists", json={"name": "Theirs"})

    doc = export(api)
    assert doc["version"] == 1 and doc["user"]["id"] == api.user_id
    assert doc["preferences"]["timezone"] == "Europe/Berlin"
    assert [entry["name"] for entry in doc["lists"]] == ["Moving house"]
    assert len(doc["sections"]) == 2 and len(doc["tasks"]) == 11 and len(doc["comments"]) == 2
    assert [r["task_id"] for r in doc["reminders"]] == [task_id]
    assert [f["name"] for f in doc["filters"]] == ["Urgent"]
    assert all({"parent_task_id", "section_id", "all_day"} <= t.keys() for t in doc["tasks"])
    assert "Not yours" not in str(doc) and "Theirs" not in str(doc)
    assert export(other)["tasks"][0]["title"] == "Not yours"
