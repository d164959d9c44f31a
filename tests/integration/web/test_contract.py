"""One schema per contract: the spec is generated from the routes' models and says exactly what they do.

Every route an app mounts is in its /openapi.json and every documented operation is a route; the
document is valid OpenAPI 3.1; every example in it validates against its own schema (and every
request example is accepted by the model that validates requests); a bad body is a 422 problem with
`errors` per field; /docs is Swagger UI served from this origin only.
"""

from __future__ import annotations

import datetime as dt
import html.parser

import jsonschema
import jwt
import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

import functions.audit
import functions.fanout
import functions.notifications
import functions.outbox
import functions.recurrence
import functions.reminders
import functions.tasks
from functions.combined import create_app as combined_app
from shared.persistence.db import make_engine, migrate
from shared.persistence.models import User
from shared.settings import Settings
from shared.web.operations import build_spec, openapi_path, operation
from tests.conftest import JWT_SECRET, with_

#: Routes that serve files, not API operations: the only ones the spec leaves out.
STATIC_ENDPOINTS = frozenset({"frontend_static", "docs_asset"})
IGNORED_METHODS = {"HEAD", "OPTIONS"}
FUNCTIONS = (
    functions.tasks,
    functions.audit,
    functions.fanout,
    functions.notifications,
    functions.outbox,
    functions.recurrence,
    functions.reminders,
)


def _settings(**changes) -> Settings:
    changes.setdefault("database_url", "sqlite://")
    return Settings(jwt_secret=JWT_SECRET, run_background_workers=False, **changes)


@pytest.fixture(scope="module")
def accounts_db(tmp_path_factory):
    """A migrated SQLite file with the account `u1` the tokens below name (a token needs its account)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('contract') / 'contract.db'}"
    migrate(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(User), [{"id": "u1", "email": "u1@example.com", "password_hash": "-"}])
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def apps(accounts_db):
    """The tasks function and the combined app, with and without the app token (which mounts trigger routes)."""
    built = {
        "tasks": functions.tasks.create_app(_settings(database_url=accounts_db)),
        "combined": combined_app(_settings()),
        "combined+token": combined_app(_settings(app_api_token="operator-token")),
    }
    yield built
    for app in built.values():
        app.extensions["taskflow"].close()


@pytest.fixture(scope="module")
def spec(apps):
    """The fullest document: the combined app with its trigger and admin routes mounted."""
    return apps["combined+token"].test_client().get("/openapi.json").json


def routes(app) -> set[tuple[str, str]]:
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in STATIC_ENDPOINTS
        for method in rule.methods - IGNORED_METHODS
    }


def documented(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


@pytest.mark.parametrize("name", ["tasks", "combined", "combined+token"])
def test_every_route_is_in_the_spec_and_every_operation_is_a_route(apps, name):
    app = apps[name]
    document = app.test_client().get("/openapi.json").json
    assert routes(app) == documented(document)
    assert ("/api/{user_id}/tasks", "post") in routes(app) and ("/docs", "get") in routes(app)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_every_function_describes_each_route_it_mounts(function):
    app = function.create_app(_settings(app_api_token="operator-token"))
    try:
        document = build_spec(app, title="t", version="1", description="d")
        assert routes(app) == documented(document)
        validate(document)
    finally:
        app.extensions["taskflow"].close()


def test_the_spec_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def _schemas_with_examples(node, found):
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list) and ("type" in node or "properties" in node or "$ref" in node):
            found.append(node)
        for value in node.values():
            _schemas_with_examples(value, found)
    elif isinstance(node, list):
        for value in node:
            _schemas_with_examples(value, found)
    return found


def test_every_example_validates_against_its_own_schema(spec):
    schemas = _schemas_with_examples(spec, [])
    assert len(schemas) > 30
    checked = 0
    for schema in schemas:
        validator = jsonschema.Draft202012Validator(
            {**schema, "components": spec["components"]}, format_checker=jsonschema.FormatChecker()
        )
        for example in schema["examples"]:
            errors = [e.message for e in validator.iter_errors(example)]
            assert not errors, (example, errors)
            checked += 1
    assert checked > 40


def test_every_body_and_response_has_an_example(spec):
    components = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            contents = [op.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in op["responses"].values()]
            for content in contents:
                for media in content.values():
                    ref = media["schema"].get("$ref")
                    if ref:
                        name = ref.rsplit("/", 1)[-1]
                        assert components[name].get("examples"), f"{method} {path}: {name} has no example"


def test_request_examples_are_accepted_by_the_models_that_validate_requests(apps):
    app = apps["combined+token"]
    seen = 0
    for view in app.view_functions.values():
        op = getattr(view, "operation", None)
        if op is None or op.body is None:
            continue
        for example in op.body.model_json_schema()["examples"]:
            op.body.model_validate(example)
            seen += 1
    assert seen >= 10


def test_replay_shapes_never_both_match(spec):
    replay = spec["paths"]["/api/{user_id}/tasks/{task_id}/replay"]["get"]["responses"]["200"]["content"]
    schema = {**replay["application/json"]["schema"], "components": spec["components"]}
    task = spec["components"]["schemas"]["TaskOut"]["examples"][0]
    branches = spec["components"]["schemas"]["Replay"]["anyOf"]
    for instance in (task, {"deleted": True, "task": task}):
        jsonschema.validate(instance, schema)
        matching = [
            b
            for b in branches
            if jsonschema.Draft202012Validator({**b, "components": spec["components"]}).is_valid(instance)
        ]
        assert len(matching) == 1


def test_constraints_the_models_enforce_are_in_the_spec(spec):
    task = spec["components"]["schemas"]["TaskCreate"]
    assert task["additionalProperties"] is False and task["required"] == ["title"]
    assert task["properties"]["title"]["maxLength"] == 500
    assert task["properties"]["tags"]["anyOf"][0]["maxItems"] == 20
    assert set(task["properties"]["priority"]["enum"]) == {"none", "low", "medium", "high", "urgent"}
    reminder = spec["components"]["schemas"]["ReminderSpec"]
    assert reminder["oneOf"] == [{"required": ["remind_at"]}, {"required": ["minutes_before"]}]
    assert (
        reminder["properties"]["minutes_before"].items() >= {"type": "integer", "minimum": 0, "maximum": 527040}.items()
    )
    listing = {p["name"]: p for p in spec["paths"]["/api/{user_id}/tasks"]["get"]["parameters"]}
    assert listing["limit"]["schema"]["maximum"] == 200 and listing["limit"]["required"] is False
    create = spec["paths"]["/api/{user_id}/tasks"]["post"]
    assert {"401", "403", "413", "415", "422", "409"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    put = spec["paths"]["/api/{user_id}/tasks/{task_id}"]["put"]
    assert "412" in put["responses"] and any(p["name"] == "If-Match" for p in put["parameters"])
    assert spec["paths"]["/api/auth/login"]["post"]["security"] == []
    assert "429" in spec["paths"]["/api/auth/login"]["post"]["responses"]
    assert spec["paths"]["/admin/dead-letters"]["get"]["security"] == [{"appToken": []}]


def _token(user_id: str) -> str:
    claims = {"sub": user_id, "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def test_a_bad_body_is_a_422_problem_naming_each_field(apps):
    client = apps["tasks"].test_client()
    resp = client.post(
        "/api/u1/tasks",
        json={"title": 42, "priority": "asap", "tags": ["ok", ""], "owner": "x", "reminders": [{"minutes_before": -1}]},
        headers={"Authorization": f"Bearer {_token('u1')}"},
    )
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    problem = resp.json
    assert problem["type"] == "about:blank" and problem["title"] == "Validation failed" and problem["status"] == 422
    assert set(problem["errors"]) == {"title", "priority", "tags", "owner", "reminders"}
    assert problem["errors"]["owner"] == "unknown field"
    assert problem["errors"]["reminders"].startswith("0.minutes_before: ")
    assert all(isinstance(message, str) and message for message in problem["errors"].values())
    query = client.get("/api/u1/tasks?limit=0&sort=x", headers={"Authorization": f"Bearer {_token('u1')}"})
    assert query.status_code == 422 and set(query.json["errors"]) == {"limit", "sort"}
    assert query.json["errors"]["sort"] == "unknown parameter"


def test_register_refuses_a_weak_password_per_field_before_any_work(apps):
    resp = (
        apps["tasks"]
        .test_client()
        .post("/api/auth/register", json={"email": "Ada@Example.com", "password": "ada@example.com!"})
    )
    assert resp.status_code == 422 and set(resp.json["errors"]) == {"password"}


class _Assets(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_docs_page_loads_only_same_origin_assets(apps):
    client = apps["combined"].test_client()
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    parser = _Assets()
    parser.feed(page.get_data(as_text=True))
    assert len(parser.urls) >= 3
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        with client.get(url) as asset:
            assert asset.status_code == 200 and len(asset.data) > 0, url
    init = client.get("/docs/init.js").get_data(as_text=True)
    assert '"/openapi.json"' in init and "validatorUrl: null" in init
    assert client.get("/docs/../../etc/passwd").status_code == 404
    assert client.get("/docs/swagger-editor-bundle.js").status_code == 404


def test_a_non_json_body_and_response_are_declared_and_checked():
    from flask import Response

    from shared.runtime.process import Runtime
    from shared.web.app import make_flask_app
    from shared.web.operations import operation

    rt = Runtime(_settings())
    app = make_flask_app("calendar", rt)

    @app.post("/import.ics")
    @operation(
        body_media_type="text/calendar",
        response_media_type="text/calendar",
        responses={200: None},
        auth="none",
        summary="Echo a calendar",
        tags=["calendar"],
    )
    def echo(body: str):
        return Response(body, mimetype="text/calendar")

    try:
        client = app.test_client()
        ics = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
        ok = client.post("/import.ics", data=ics, content_type="text/calendar; charset=utf-8")
        assert ok.status_code == 200 and ok.get_data(as_text=True) == ics
        wrong = client.post("/import.ics", json={"x": 1})
        assert wrong.status_code == 415 and wrong.mimetype == "application/problem+json"
        not_utf8 = client.post("/import.ics", data=b"BEGIN:VCALENDAR\r\n\xff\xfe", content_type="text/calendar")
        assert not_utf8.status_code == 422 and not_utf8.get_json()["errors"] == {"body": "line 2: is not UTF-8 text"}
        document = build_spec(app, title="t", version="1", description="d")
        validate(document)
        op = document["paths"]["/import.ics"]["post"]
        assert op["requestBody"]["content"] == {"text/calendar": {"schema": {"type": "string"}}}
        assert op["responses"]["200"]["content"] == {"text/calendar": {"schema": {"type": "string"}}}
        assert {"400", "413", "415"} <= set(op["responses"]) and op["security"] == []
    finally:
        rt.close()


def test_openapi_is_built_once_per_set_of_routes(settings):
    """GET /openapi.json is public: it cost ~0.1 s of CPU per request, rebuilt each time."""
    from functions.tasks import create_app

    app = create_app(with_(settings, run_background_workers=False))
    try:
        first = build_spec(app, title="t", version="1", description="d")
        assert build_spec(app, title="t", version="1", description="d") is first

        @app.get("/added-later")
        @operation(summary="x", tags=["test"])
        def added_later() -> str:
            return "x"

        again = build_spec(app, title="t", version="1", description="d")
        assert again is not first and "/added-later" in again["paths"] and "/added-later" not in first["paths"]
        served = app.test_client().get("/openapi.json")
        assert served.status_code == 200 and "/added-later" in served.json["paths"]
    finally:
        app.extensions["taskflow"].close()
