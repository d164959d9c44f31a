"""Lists under /api/<user_id>/lists and quick-add parsing (POST /api/<user_id>/parse): thin adapters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from functions.tasks import lists, quickadd
from functions.tasks import validation as v
from shared.cpu import offload
from shared.db import utcnow
from shared.errors import Unauthorized
from shared.models import Preferences, TaskList
from shared.timeutil import BadValue, parse_datetime, parse_timezone
from shared.web import require_path_user, runtime

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("lists", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)
# A blueprint of its own so the limiter can throttle it alone (functions/tasks/throttle.py).
parse_bp = Blueprint("parse", __name__, url_prefix="/api/<user_id>")
parse_bp.before_request(require_path_user)


def _list_response(task_list: TaskList, status: int = 200) -> Response:
    response = jsonify(lists.view(task_list))
    response.status_code = status
    response.set_etag(str(task_list.version))
    return response


@bp.get("/lists")
def index(user_id: str) -> ResponseReturnValue:
    """Every list of the user, in order, with its number of open tasks."""
    with runtime().uow() as uow:
        return jsonify(items=lists.all_lists(uow.session, user_id))


@bp.post("/lists")
def create(user_id: str) -> ResponseReturnValue:
    """Create a list."""
    fields = lists.list_fields(v.json_body(lists.LIST_FIELDS - {"archived"}), require_name=True)
    with runtime().uow() as uow:
        task_list = lists.create_list(uow.session, user_id, fields)
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Unauthorized("This account no longer exists.") from None
        response = _list_response(task_list, 201)
    response.headers["Location"] = f"/api/{user_id}/lists/{task_list.id}"
    return response


@bp.get("/lists/<id:list_id>")
def get(user_id: str, list_id: str) -> ResponseReturnValue:
    """Fetch one list."""
    with runtime().uow() as uow:
        return _list_response(lists.get_list(uow.session, user_id, list_id))


@bp.put("/lists/<id:list_id>")
def update(user_id: str, list_id: str) -> ResponseReturnValue:
    """Rename, recolour, archive or move a list."""
    fields = lists.list_fields(v.json_body(lists.LIST_FIELDS), require_name=False)
    with runtime().uow() as uow:
        task_list = lists.get_list(uow.session, user_id, list_id, for_update=True)
        lists.update_list(uow.session, task_list, fields)
        uow.commit()
        return _list_response(task_list)


@bp.delete("/lists/<id:list_id>")
def delete(user_id: str, list_id: str) -> ResponseReturnValue:
    """Delete a list and its tasks (each with its task.deleted event)."""
    with runtime().uow() as uow:
        task_list = lists.get_list(uow.session, user_id, list_id, for_update=True)
        lists.delete_list(uow.session, task_list)
        uow.commit()
    return Response(status=204)


@parse_bp.post("/parse")
def parse(user_id: str) -> ResponseReturnValue:
    """Read one line of plain English as a task: fields, RRULE, next occurrences, chips, questions."""
    body = v.json_body({"text", "timezone", "now"})
    errors = v.FieldErrors()
    text = errors.check("text", _text, body.get("text"))
    tz = errors.check("timezone", parse_timezone, body["timezone"]) if body.get("timezone") is not None else None
    now = errors.check("now", parse_datetime, body["now"]) if body.get("now") is not None else utcnow()
    errors.raise_if_any()
    with runtime().uow() as uow:
        prefs = uow.session.get(Preferences, user_id)
        rows = uow.session.execute(
            sa.select(TaskList.id, TaskList.name).where(TaskList.user_id == user_id, TaskList.archived.is_(False))
        )
        names = {row.id: row.name for row in rows}
    timezone = tz or (prefs.timezone if prefs else "UTC")
    default_reminder = prefs.default_reminder_minutes if prefs and prefs.default_reminder_minutes is not None else 0
    parser = quickadd.QuickAdd(timezone, now, names, default_reminder)
    # Any: the JSON body. RRULE expansion is CPU work: on the bounded pool, like the recurrence routes.
    result: dict[str, Any] = offload(lambda: quickadd.as_json(parser.parse(text), timezone))
    return jsonify(result)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadValue("must be a non-empty string")
    if len(value) > quickadd.MAX_TEXT:
        raise BadValue(f"must be at most {quickadd.MAX_TEXT} characters")
    return value
