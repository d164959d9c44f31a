"""Isolation and bad input: every client mistake is a problem-details 4xx and stores nothing."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
import sqlalchemy as sa

from functions.combined import create_app
from shared.persistence.db import make_engine
from shared.persistence.models import Outbox, Task
from tests.conftest import JWT_SECRET, with_


@pytest.fixture
def app_server(settings, serve):
    return serve(create_app(with_(settings, run_background_workers=False)))


@pytest.fixture
def alice(app_server, make_client):
    return make_client(app_server).signup()


@pytest.fixture
def bob(app_server, make_client):
    return make_client(app_server).signup()


def counts(db_url):
    engine = make_engine(db_url)
    with engine.connect() as conn:
        result = (
            conn.scalar(sa.select(sa.func.count()).select_from(Task)),
            conn.scalar(sa.select(sa.func.count()).select_from(Outbox)),
        )
    engine.dispose()
    return result


def assert_problem(resp, status: int):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


LONG = "x" * 501
BAD_BODIES = [
    # (case, raw body or json, content type, expected status, field named in errors)
    ("malformed JSON", b'{"title": "x",', "application/json", 400, None),
    ("JSON array", b'["title"]', "application/json", 422, None),
    ("not JSON", b"title=x", "application/x-www-form-urlencoded", 415, None),
    ("title missing", {"description": "no title"}, None, 422, "title"),
    ("title wrong type", {"title": 42}, None, 422, "title"),
    ("title empty", {"title": "   "}, None, 422, "title"),
    ("title over 500", {"title": LONG}, None, 422, "title"),
    ("description over 10000", {"title": "t", "description": "d" * 10_001}, None, 422, "description"),
    ("description wrong type", {"title": "t", "description": ["d"]}, None, 422, "description"),
    ("unknown timezone", {"title": "t", "timezone": "Mars/Olympus_Mons"}, None, 422, "timezone"),
    ("hostile timezone", {"title": "t", "timezone": "../../etc/passwd"}, None, 422, "timezone"),
    ("impossible date", {"title": "t", "due_date": "2026-02-30T10:00:00Z"}, None, 422, "due_date"),
    ("garbage date", {"title": "t", "due_date": "next tuesday"}, None, 422, "due_date"),
    ("date wrong type", {"title": "t", "due_date": 1700000000}, None, 422, "due_date"),
    ("bad priority", {"title": "t", "priority": "asap"}, None, 422, "priority"),
    ("tags not a list", {"title": "t", "tags": "home"}, None, 422, "tags"),
    ("too many tags", {"title": "t", "tags": [f"t{i}" for i in range(21)]}, None, 422, "tags"),
    ("unknown field", {"title": "t", "owner": "someone-else"}, None, 422, "owner"),
]


@pytest.mark.parametrize("case,body,ctype,status,field", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_create_bodies_are_refused_and_store_nothing(alice, db_url, case, body, ctype, status, field):
    before = counts(db_url)
    if isinstance(body, bytes):
        resp = alice.request("POST", "/api/{me}/tasks", data=body, headers={"Content-Type": ctype})
    else:
        resp = alice.request("POST", "/api/{me}/tasks", json=body)
    problem = assert_problem(resp, status)
    if field:
        assert field in problem["errors"]
    assert counts(db_url) == before


def test_body_over_one_mebibyte_is_413(alice, db_url):
    before = counts(db_url)
    big = b'{"title": "t", "description": "' + b"x" * (1024 * 1024) + b'"}'
    assert_problem(
        alice.request("POST", "/api/{me}/tasks", data=big, headers={"Content-Type": "application/json"}), 413
    )
    assert counts(db_url) == before


@pytest.mark.parametrize(
    "path,params,field",
    [
        ("/api/{me}/tasks", {"limit": "0"}, "limit"),
        ("/api/{me}/tasks", {"limit": "abc"}, "limit"),
        ("/api/{me}/tasks", {"completed": "maybe"}, "completed"),
        ("/api/{me}/tasks", {"due_before": "2026-13-01"}, "due_before"),
        ("/api/{me}/tasks", {"cursor": "not-a-cursor"}, "cursor"),
        ("/api/{me}/tasks", {"sort": "title; DROP TABLE tasks"}, "sort"),
    ],
)
def test_bad_query_strings_are_422(alice, path, params, field):
    assert field in assert_problem(alice.request("GET", path, params=params), 422)["errors"]


def test_bad_updates_leave_the_task_unchanged(alice, db_url):
    task = alice.create_task(title="keep")
    tid = task["id"]
    for body in ({"title": ""}, {"due_date": "2026-02-30"}, {"timezone": "Nowhere/City"}, {"version": 99}):
        assert_problem(alice.request("PUT", f"/api/{{me}}/tasks/{tid}", json=body), 422)
    assert_problem(alice.request("PUT", f"/api/{{me}}/tasks/{tid}/due-date", json={}), 422)
    assert_problem(alice.request("PATCH", f"/api/{{me}}/tasks/{tid}/complete", json={"completed": "yes"}), 422)
    assert alice.request("GET", f"/api/{{me}}/tasks/{tid}").json() == task
    assert counts(db_url) == (1, 1)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"email": "not-an-email", "password": "longenough"}, "email"),
        ({"email": "a@b.example", "password": "short"}, "password"),
        ({"email": "a@b.example", "password": "p" * 129}, "password"),
        ({"email": ["a@b.example"], "password": "longenough"}, "email"),
    ],
)
def test_bad_registrations_are_422(app_server, make_client, body, field):
    client = make_client(app_server)
    resp = client.request("POST", "/api/auth/register", auth=False, json=body)
    assert field in assert_problem(resp, 422)["errors"]


def test_missing_or_bad_tokens_are_401(alice):
    def token(**claims):
        base = {"sub": alice.user_id, "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}
        return jwt.encode({**base, **claims}, JWT_SECRET, algorithm="HS256")

    expired = token(exp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
    forged = jwt.encode(
        {"sub": alice.user_id, "exp": 4102444800}, "another-secret-another-secret-xx", algorithm="HS256"
    )
    unsigned = jwt.encode({"sub": alice.user_id, "exp": 4102444800}, None, algorithm="none")
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {unsigned}"},
        {"Authorization": "Bearer not.a.jwt"},
    ):
        resp = alice.request("GET", "/api/{me}/tasks", auth=False, headers=headers)
        assert_problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        alice.request("GET", "/api/{me}/tasks", auth=False, headers={"Authorization": f"Bearer {token()}"}).status_code
        == 200
    )


def test_another_users_path_is_403_and_task_is_404(alice, bob, db_url):
    secret = alice.create_task(title="alice's")
    before = counts(db_url)
    assert_problem(bob.request("GET", f"/api/{alice.user_id}/tasks"), 403)
    assert_problem(bob.request("POST", f"/api/{alice.user_id}/tasks", json={"title": "intrude"}), 403)
    for method, suffix, body in [
        ("GET", "", None),
        ("PUT", "", {"title": "mine"}),
        ("DELETE", "", None),
        ("PATCH", "/complete", {}),
        ("PUT", "/due-date", {"due_date": None}),
    ]:
        resp = bob.request(method, f"/api/{{me}}/tasks/{secret['id']}{suffix}", json=body)
        assert_problem(resp, 404)
    assert counts(db_url) == before
    assert alice.request("GET", f"/api/{{me}}/tasks/{secret['id']}").json() == secret
    assert [t["id"] for t in bob.request("GET", "/api/{me}/tasks").json()["items"]] == []


def test_unknown_routes_and_methods_are_problem_details(alice):
    assert_problem(alice.request("GET", "/api/{me}/nope"), 404)
    assert_problem(alice.request("PATCH", "/api/{me}/tasks"), 405)
