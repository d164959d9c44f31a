"""The request plumbing's cheap ways give the answers of its careful ones: bodies from bytes, lazy metadata."""

from __future__ import annotations

import importlib
import json
import pkgutil

import pydantic
import pytest
from flask import Flask

import functions
from shared.domain import request_meta
from shared.runtime.metrics import Metrics
from shared.web.bodies import json_object, validated_json
from shared.web.schemas import Body


def _body_models() -> list[type[Body]]:
    for module in pkgutil.walk_packages(functions.__path__, "functions."):
        if ".schemas" in module.name:
            importlib.import_module(module.name)
    found, todo = [], list(Body.__subclasses__())
    while todo:
        model = todo.pop()
        found.append(model)
        todo.extend(model.__subclasses__())
    return sorted(found, key=lambda m: m.__qualname__)


def _careful(model: type[pydantic.BaseModel], body: dict) -> pydantic.BaseModel | str:
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        return f"invalid: {sorted(str(e['loc']) for e in exc.errors())}"


def _from_bytes(app: Flask, model: type[pydantic.BaseModel], data: bytes) -> pydantic.BaseModel | None:
    with app.test_request_context("/", method="POST", data=data, content_type="application/json"):
        return validated_json(model)


MODELS = _body_models()


@pytest.mark.parametrize("model", MODELS, ids=[m.__qualname__ for m in MODELS])
def test_a_body_validated_from_its_bytes_is_what_the_parsed_body_validates_to(model):
    """Every documented example, and each with a field of the wrong JSON type: same result both ways."""
    app = Flask(__name__)
    examples = (model.model_config.get("json_schema_extra") or {}).get("examples", [])
    assert examples or model.__qualname__ in {"Body", "TaskFields"}, "a body model without examples"
    cases = list(examples)
    for example in examples:
        for key in example:
            cases.append({**example, key: [example[key]]})  # an array where the example has a value
            cases.append({**example, key: None})
        cases.append({**example, "unknown_field": 1})
    for case in cases:
        careful = _careful(model, case)
        fast = _from_bytes(app, model, json.dumps(case).encode())
        if isinstance(careful, str):
            assert fast is None, (case, careful)  # declined: the careful path explains the refusal
        else:
            assert fast == careful, case


@pytest.mark.parametrize(
    "text",
    [
        '{"title": "a\\u0000b"}',
        '{"title": "t", "tags": ["a\\u0000b"]}',
        '{"a\\u0000": "t"}',
        '{"title": "a\\ud800b"}',
        '{"title": "a\\uDFFFb"}',
        '{"title": "\\ud83d\\ude00"}',  # a valid pair: the careful path accepts it
        '["title"]',
        '{"title": "t"',
        "[" * 10_000 + "]" * 10_000,
    ],
)
def test_a_body_with_nul_surrogates_or_no_object_is_left_to_the_careful_path(text):
    from functions.tasks.schemas.tasks import TaskCreate

    assert _from_bytes(Flask(__name__), TaskCreate, text.encode()) is None


def test_raw_nul_and_surrogate_bytes_are_left_to_the_careful_path_which_refuses_them():
    from functions.tasks.schemas.tasks import TaskCreate

    app = Flask(__name__)
    for data in (b'{"title": "a\x00b"}', '{"title": "a\ud800b"}'.encode("utf-8", "surrogatepass")):
        assert _from_bytes(app, TaskCreate, data) is None
        with app.test_request_context("/", method="POST", data=data, content_type="application/json"):
            with pytest.raises(Exception) as refused:
                json_object()
            assert getattr(refused.value, "status", 400) in (400, 422)


def test_request_metadata_mints_one_id_and_reads_the_rest_only_when_asked():
    meta = request_meta.HttpRequestMeta(None, "::ffff:10.0.0.1", "agent\x00/1")
    assert meta.request_id == meta.correlation_id  # no caller's id: the request's own starts the correlation
    assert meta._client_ip is request_meta._UNREAD
    assert meta.as_dict() == {"request_id": meta.correlation_id, "client_ip": "::ffff:a00:1", "user_agent": "agent/1"}
    assert meta.client_ip == request_meta.clean_ip("::ffff:10.0.0.1")

    given = request_meta.HttpRequestMeta("caller-1", "not an ip", None)
    assert given.correlation_id == "caller-1" and given._request_id is None
    assert given.request_id not in ("caller-1", None) and given.request_id == given.request_id
    assert given.as_dict() == {"request_id": given.request_id}

    refused = request_meta.HttpRequestMeta("bad id with spaces", None, "x" * 600)
    assert refused.correlation_id != "bad id with spaces" and len(refused.user_agent or "") == 512


def test_request_metrics_keep_their_names_and_labels():
    metrics = Metrics()
    metrics.observe_request("POST", "/api/<user_id>/tasks", 201, 0.002)
    metrics.observe_request("POST", "/api/<user_id>/tasks", 201, 0.004)
    metrics.observe_request("GET", "unmatched", 404, None)
    registry = metrics.registry
    labels = {"method": "POST", "route": "/api/<user_id>/tasks", "status": "201"}
    assert registry.get_sample_value("taskflow_http_requests_total", labels) == 2
    assert registry.get_sample_value(
        "taskflow_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}
    )
    timed = {"method": "POST", "route": "/api/<user_id>/tasks"}
    assert registry.get_sample_value("taskflow_http_request_duration_seconds_count", timed) == 2
    assert registry.get_sample_value("taskflow_http_request_duration_seconds_sum", timed) == pytest.approx(0.006)
    assert (
        registry.get_sample_value(
            "taskflow_http_request_duration_seconds_count", {"method": "GET", "route": "unmatched"}
        )
        is None
    )
