"""Lists under /api/<user_id>/lists and quick-add parsing (POST /api/<user_id>/parse): thin adapters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from functions.tasks.api import versions
from functions.tasks.core import lists
from functions.tasks.quickadd import parser
from functions.tasks.schemas.lists import ListCreate, ListOut, ListPage, ListUpdate, Parsed, ParseRequest
from shared.concurrency.offload import offload
from shared.domain.errors import Unauthorized
from shared.persistence.db import utcnow
from shared.persistence.models import Preferences, TaskList
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("lists", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)
# A blueprint of its own so the limiter can throttle it alone (functions/tasks/api/throttle.py).
parse_bp = Blueprint("parse", __name__, url_prefix="/api/<user_id>")
parse_bp.before_request(require_path_user)


def _list_response(task_list: TaskList, status: int = 200) -> Response:
    return versions.versioned_response(lists.view(task_list), task_list.version, status)


def _check_if_match(task_list: TaskList) -> None:
    """Refuse a change based on a stale version of the list (If-Match, 412), as for tasks."""
    versions.check_if_match(task_list.version, "list")


@bp.get("/lists")
@operation(responses={200: ListPage}, summary="The lists, in order, each with its open tasks' count", tags=["lists"])
def index(user_id: str) -> ResponseReturnValue:
    """Every list of the user, in order, with its number of open tasks."""
    with runtime().uow() as uow:
        return jsonify(items=lists.all_lists(uow.session, user_id))


@bp.post("/lists")
@operation(body=ListCreate, responses={201: ListOut}, summary="Create a list", tags=["lists"])
def create(user_id: str, body: ListCreate) -> ResponseReturnValue:
    """Create a list."""
    with runtime().uow() as uow:
        task_list = lists.create_list(uow.session, user_id, body)
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Unauthorized("This account no longer exists.") from None
        response = _list_response(task_list, 201)
    response.headers["Location"] = f"/api/{user_id}/lists/{task_list.id}"
    return response


@bp.get("/lists/<id:list_id>")
@operation(responses={200: ListOut}, summary="Fetch a list", tags=["lists"])
def get(user_id: str, list_id: str) -> ResponseReturnValue:
    """Fetch one list."""
    with runtime().uow() as uow:
        return _list_response(lists.get_list(uow.session, user_id, list_id))


@bp.put("/lists/<id:list_id>")
@operation(
    body=ListUpdate,
    responses={200: ListOut},
    if_match=True,
    summary="Rename, recolour, archive or move a list",
    tags=["lists"],
)
def update(user_id: str, list_id: str, body: ListUpdate) -> ResponseReturnValue:
    """Rename, recolour, archive or move a list."""
    with runtime().uow() as uow:
        task_list = lists.get_list(uow.session, user_id, list_id, for_update=True)
        _check_if_match(task_list)
        lists.update_list(uow.session, task_list, body.given())
        uow.commit()
        return _list_response(task_list)


@bp.delete("/lists/<id:list_id>")
@operation(
    responses={204: None}, if_match=True, summary="Delete a list and its tasks (one task.deleted each)", tags=["lists"]
)
def delete(user_id: str, list_id: str) -> ResponseReturnValue:
    """Delete a list and its tasks (each with its task.deleted event)."""
    with runtime().uow() as uow:
        task_list = lists.get_list(uow.session, user_id, list_id, for_update=True)
        _check_if_match(task_list)
        lists.delete_list(uow.session, task_list)
        uow.commit()
    return Response(status=204)


@parse_bp.post("/parse")
@operation(
    body=ParseRequest,
    responses={200: Parsed},
    problems=[429],
    summary="Read one line of plain English as a task (quick add)",
    tags=["lists"],
)
def parse(user_id: str, body: ParseRequest) -> ResponseReturnValue:
    """Read one line of plain English as a task: fields, RRULE, next occurrences, chips, questions."""
    now = body.now or utcnow()
    with runtime().uow() as uow:
        prefs = uow.session.get(Preferences, user_id)
        rows = uow.session.execute(
            sa.select(TaskList.id, TaskList.name).where(TaskList.user_id == user_id, TaskList.archived.is_(False))
        )
        names = {row.id: row.name for row in rows}
    timezone = body.timezone or (prefs.timezone if prefs else "UTC")
    default_reminder = prefs.default_reminder_minutes if prefs and prefs.default_reminder_minutes is not None else 0
    quick_add = parser.QuickAdd(timezone, now, names, default_reminder)
    # Any: the JSON body. RRULE expansion is CPU work: on the bounded pool, like the recurrence routes.
    result: dict[str, Any] = offload(lambda: parser.as_json(quick_add.parse(body.text), timezone))
    return jsonify(result)
