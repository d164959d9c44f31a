"""One description per HTTP contract: pydantic models validate each request and generate /openapi.json.

A route declares its contract once with `@operation(...)`, right under its `@bp.<method>(...)`:

    @bp.post("/api/<user_id>/lists")
    @operation(body=ListCreate, query=None, responses={201: ListOut}, summary="Create a list", tags=["lists"])
    def create_list(user_id: str, body: ListCreate) -> ...:

The decorator parses the JSON body and the query string into the models (passed as the `body=`
and `query=` keyword arguments), turns a pydantic `ValidationError` into a 422 problem with
`errors` per field, and records the operation on the view, so `build_spec(app)` describes
exactly the routes the app has mounted. Nothing is registered at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import pydantic
from flask import Flask, request
from pydantic.json_schema import models_json_schema

from shared.domain.errors import ValidationFailed
from shared.web.accounts import check_account
from shared.web.bodies import json_object, refuse_oversized_stream, validated_json
from shared.web.problems import ProblemError

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

JSON = "application/json"
REF_TEMPLATE = "#/components/schemas/{model}"
Auth = Literal["bearer", "none", "app-token"]
MAX_FIELD_ERRORS = 20
_M = TypeVar("_M", bound=pydantic.BaseModel)

PROBLEM_TITLES = {
    400: "Malformed request (bad JSON, a NUL character in the path)",
    401: "Missing, expired or invalid credentials",
    403: "Another user's resources",
    404: "Not found (another user's ids are not found either)",
    409: "Conflict (an Idempotency-Key still in use)",
    412: "If-Match names a stale version",
    413: "Body larger than 1 MiB",
    415: "Body is not the declared media type",
    422: "Validation failed: `errors` names each bad field",
    429: "Too many attempts; Retry-After says when to try again",
    503: "The database is unavailable; Retry-After says when to try again",
}


@dataclasses.dataclass(frozen=True)
class Operation:
    """What one route takes and answers; the view carries it as `view.operation`."""

    summary: str
    tags: tuple[str, ...]
    body: type[pydantic.BaseModel] | None = None
    query: type[pydantic.BaseModel] | None = None
    responses: Mapping[int, type[pydantic.BaseModel] | None] = dataclasses.field(default_factory=dict)
    body_media_type: str = JSON
    body_required: bool = True
    response_media_type: str = JSON
    auth: Auth = "bearer"
    problems: frozenset[int] = frozenset()
    headers: tuple[Mapping[str, Any], ...] = ()  # Any: OpenAPI parameter objects
    description: str | None = None


def operation(
    *,
    summary: str,
    tags: Sequence[str],
    body: type[pydantic.BaseModel] | None = None,
    query: type[pydantic.BaseModel] | None = None,
    responses: Mapping[int, type[pydantic.BaseModel] | None] | None = None,
    body_media_type: str = JSON,
    body_required: bool = True,
    response_media_type: str = JSON,
    auth: Auth = "bearer",
    problems: Iterable[int] = (),
    if_match: bool = False,
    description: str | None = None,
) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """Declare a route's contract: validate its body and query with the models, document it.

    A JSON body is parsed into `body` (a non-JSON `body_media_type` passes the text as `body=`);
    `body_required=False` lets an empty body through as the model's defaults. `problems` adds
    statuses the route can answer besides those its shape implies.
    """
    statuses, headers = set(problems), []
    if if_match:
        statuses.add(412)
        headers.append(IF_MATCH)
    op = Operation(
        summary=summary,
        tags=tuple(tags),
        body=body,
        query=query,
        responses=dict(responses or {200: None}),
        body_media_type=body_media_type,
        body_required=body_required,
        response_media_type=response_media_type,
        auth=auth,
        problems=frozenset(statuses),
        headers=tuple(headers),
        description=description,
    )

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        route_op = op
        if getattr(view, "idempotent", False):  # shared.web.idempotency marks the views it wraps
            route_op = dataclasses.replace(
                op, headers=(*op.headers, IDEMPOTENCY_KEY), problems=op.problems | {409, 422}
            )

        @functools.wraps(view)
        def validated(*args: Any, **kwargs: Any) -> ResponseReturnValue:  # Any: the route's path arguments
            try:
                if op.query is not None:
                    kwargs["query"] = parse(op.query, request.args.to_dict(), unknown="unknown parameter")
                if op.body is not None:
                    kwargs["body"] = _body(op.body, op.body_required)
                elif op.body_media_type != JSON:
                    kwargs["body"] = _text_body(op.body_media_type)
            except Exception:
                check_account()  # a gone account is told so (401) before its input's faults
                raise
            return view(*args, **kwargs)

        validated.operation = route_op  # type: ignore[attr-defined]  # read back by build_spec
        return validated

    return decorate


def describe(view: Callable[..., Any], **kwargs: Any) -> None:
    """Attach a contract to a view that is not a plain route (a socket, a cron binding); no validation."""
    view.operation = operation(**kwargs)(view).operation  # type: ignore[attr-defined]  # see operation()


def _body(model: type[_M], required: bool) -> _M:
    """The body as `model`: validated from its bytes when plainly valid, else parsed, checked and explained."""
    if not required and not request.content_length and not request.headers.get("Transfer-Encoding"):
        return parse(model, {}, unknown="unknown field")
    fast = validated_json(model)
    return fast if fast is not None else parse(model, json_object(), unknown="unknown field")


NEWLINE = b"\n"


def _text_body(media_type: str) -> str:
    if request.mimetype != media_type:
        raise ProblemError(
            f"Send the body with Content-Type: {media_type}.", status=415, title="Unsupported media type"
        )
    refuse_oversized_stream()
    data = request.get_data()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A text body is a document (an .ics file): say which line holds the bad byte, as for its other faults.
        line = f"line {data.count(NEWLINE, 0, exc.start) + 1}: is not UTF-8 text"
        raise ValidationFailed(f"The request body is not valid UTF-8 ({line}).", errors={"body": line}) from None


def parse(model: type[_M], data: Mapping[str, Any], *, unknown: str) -> _M:
    """Validate data with a model; a ValidationError becomes a 422 problem with `errors` per field."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed("Some fields are invalid.", errors=field_errors(exc, unknown=unknown)) from None


def field_errors(exc: pydantic.ValidationError, *, unknown: str) -> dict[str, str]:
    """One message per top-level field (a nested item's path leads its message)."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        field = str(loc[0])[:100] if loc else "body"
        if error["type"] == "extra_forbidden":
            message = unknown
        elif error["type"] == "value_error" and "error" in error.get("ctx", {}):
            message = str(error["ctx"]["error"])
        else:
            message = error["msg"]
        # Union members add their tags ("constrained-int", "function-after[…]") to loc: keep names and indexes.
        inner = ".".join(str(part) for part in loc[1:] if isinstance(part, int) or part.isidentifier())
        errors.setdefault(field, f"{inner}: {message}" if inner else message)
        if len(errors) >= MAX_FIELD_ERRORS:
            break
    return errors


# --- the OpenAPI document -------------------------------------------------------------------

IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of the version this change is based on (412 when stale)",
    "schema": {"type": "string"},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry-safe create: the same key and body replay the first response",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
_CONVERTER_SCHEMAS = {
    "id": {"type": "string", "pattern": "^[0-9A-Fa-f][0-9A-Fa-f-]{0,63}$"},
    "int": {"type": "integer", "minimum": 0},
}
_RULE_ARG = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")
_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Validation: one message per field",
        },
    },
    "examples": [
        {
            "type": "about:blank",
            "title": "Validation failed",
            "status": 422,
            "detail": "Some fields are invalid.",
            "errors": {"title": "String should have at least 1 character"},
        }
    ],
}


def openapi_path(rule: str) -> str:
    """`/api/<user_id>/tasks/<id:task_id>` → `/api/{user_id}/tasks/{task_id}`."""
    return _RULE_ARG.sub(r"{\2}", rule)


def build_spec(app: Flask, *, title: str, version: str, description: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every described route the app has mounted.

    Built once per set of routes (~0.1 s of CPU each time): GET /openapi.json is public and unthrottled.
    The document is shared: callers must not change it.
    """
    rules = tuple((r.rule, r.endpoint, *sorted(r.methods or ())) for r in app.url_map.iter_rules())
    key = (title, version, description, rules)
    cached = app.extensions.get("openapi_spec")
    if cached is not None and cached[0] == key:
        return cast("dict[str, Any]", cached[1])
    document = _build_spec(app, title=title, version=version, description=description)
    app.extensions["openapi_spec"] = (key, document)
    return document


def _build_spec(app: Flask, *, title: str, version: str, description: str) -> dict[str, Any]:
    operations: list[tuple[str, str, Operation, list[dict[str, Any]]]] = []
    for rule in app.url_map.iter_rules():
        op: Operation | None = getattr(app.view_functions[rule.endpoint], "operation", None)
        if op is None:
            continue
        params = [_path_param(conv, name) for conv, name in _RULE_ARG.findall(rule.rule)]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.append((openapi_path(rule.rule), method.lower(), op, params))
    models = _models(op for _, _, op, _ in operations)
    keys, defs = models_json_schema(models, ref_template=REF_TEMPLATE)
    _drop_null_defaults(defs)
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op, params in sorted(operations, key=lambda o: o[:2]):
        paths.setdefault(path, {})[method] = _operation_object(op, params, keys)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "appToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "dapr-api-token",
                    "description": "APP_API_TOKEN: the Dapr sidecar and operators only",
                },
            },
            "schemas": {**defs.get("$defs", {}), "Problem": _PROBLEM},
        },
    }


def _drop_null_defaults(node: Any) -> None:
    """Remove `default: null` where null is not allowed (an optional field the client may only omit)."""
    # Any: a JSON Schema node
    if isinstance(node, dict):
        if "default" in node and node["default"] is None and "type" in node and "null" not in node["type"]:
            del node["default"]
        for value in node.values():
            _drop_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_null_defaults(value)


def _models(ops: Iterable[Operation]) -> list[tuple[type[pydantic.BaseModel], Any]]:
    # Any: pydantic's JsonSchemaMode literal
    seen: dict[tuple[type[pydantic.BaseModel], str], None] = {}
    for op in ops:
        if op.body is not None:
            seen[(op.body, "validation")] = None
        for out in op.responses.values():
            if out is not None:
                seen[(out, "serialization")] = None
    return list(seen)


def _path_param(converter: str, name: str) -> dict[str, Any]:
    schema = _CONVERTER_SCHEMAS.get(converter, {"type": "string", "minLength": 1, "maxLength": 64})
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _schema_of(model: type[pydantic.BaseModel], mode: str, keys: Mapping[Any, Any]) -> dict[str, Any]:
    return dict(keys[(model, mode)])


def _operation_object(op: Operation, params: list[dict[str, Any]], keys: Mapping[Any, Any]) -> dict[str, Any]:
    statuses = set(op.problems) | {400, 503}
    parameters = list(params)
    if op.query is not None:
        parameters += _query_params(op.query)
        statuses.add(422)
    parameters += [dict(h) for h in op.headers]
    result: dict[str, Any] = {"summary": op.summary, "tags": list(op.tags)}
    if op.description:
        result["description"] = op.description
    if op.body is not None or op.body_media_type != JSON:
        schema = _schema_of(op.body, "validation", keys) if op.body is not None else {"type": "string"}
        result["requestBody"] = {"required": op.body_required, "content": {op.body_media_type: {"schema": schema}}}
        statuses |= {413, 415, 422}
    if op.auth == "bearer":
        statuses |= {401, 403}
        if len(params) > 1:
            statuses.add(404)
    elif op.auth == "app-token":
        statuses |= {401, 403}
        result["security"] = [{"appToken": []}]
    else:
        result["security"] = []
    responses: dict[str, Any] = {}
    for status, model in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": _SUCCESS.get(status, "Success")}
        if model is not None:
            entry["content"] = {op.response_media_type: {"schema": _schema_of(model, "serialization", keys)}}
        elif status != 204 and op.response_media_type != JSON:
            entry["content"] = {op.response_media_type: {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    for status in sorted(statuses - set(op.responses)):
        responses[str(status)] = {
            "description": PROBLEM_TITLES[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    result["responses"] = responses
    if parameters:
        result["parameters"] = parameters
    return result


_SUCCESS = {200: "OK", 201: "Created", 204: "No content", 304: "Not modified", 101: "Switching protocols"}


def _query_params(model: type[pydantic.BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "default")} | (
            {"default": prop["default"]} if prop.get("default") is not None else {}
        )
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop.pop("description")
        params.append(param)
    return params
