"""Lists under /api/<user_id>/lists and quick-add parsing (POST /api/<user_id>/parse).

Each route parses, makes one call into functions.tasks.core.lists (or functions.tasks.quickadd.service), answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify

from functions.tasks.api import versions
from functions.tasks.core import lists
from functions.tasks.quickadd import service as quickadd
from functions.tasks.schemas.lists import ListCreate, ListOut, ListPage, ListPatch, ListUpdate
from functions.tasks.schemas.quickadd import Parsed, ParseRequest
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("lists", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)
# A blueprint of its own so the limiter can throttle it alone (functions/tasks/api/throttle.py).
parse_bp = Blueprint("parse", __name__, url_prefix="/api/<user_id>")
parse_bp.before_request(require_path_user)


@bp.get("/lists")
@operation(responses={200: ListPage}, summary="The lists, in order, each with its open tasks' count", tags=["lists"])
def index(user_id: str) -> ResponseReturnValue:
    """Every list of the user, in order, with its number of open tasks."""
    return jsonify(items=lists.index(runtime(), user_id))


@bp.post("/lists")
@operation(body=ListCreate, responses={201: ListOut}, summary="Create a list", tags=["lists"])
def create(user_id: str, body: ListCreate) -> ResponseReturnValue:
    """Create a list."""
    task_list = lists.create(runtime(), user_id, body)
    response = versions.versioned_response(task_list, 201)
    response.headers["Location"] = f"/api/{user_id}/lists/{task_list['id']}"
    return response


@bp.get("/lists/<id:list_id>")
@operation(responses={200: ListOut}, summary="Fetch a list", tags=["lists"])
def get(user_id: str, list_id: str) -> ResponseReturnValue:
    """Fetch one list."""
    return versions.versioned_response(lists.get(runtime(), user_id, list_id))


@bp.patch("/lists/<id:list_id>")
@operation(
    body=ListPatch,
    responses={200: ListOut},
    problems=[409],
    summary="Change what a person changed in a list, merged with changes made meanwhile (409 names conflicts)",
    tags=["lists"],
)
def patch(user_id: str, list_id: str, body: ListPatch) -> ResponseReturnValue:
    """Merge a person's changes to a list from the version they started from."""
    return versions.versioned_response(lists.merge(runtime(), user_id, list_id, body))


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
    return versions.versioned_response(lists.update(runtime(), user_id, list_id, body, versions.if_match("list")))


@bp.delete("/lists/<id:list_id>")
@operation(
    responses={204: None}, if_match=True, summary="Delete a list and its tasks (one task.deleted each)", tags=["lists"]
)
def delete(user_id: str, list_id: str) -> ResponseReturnValue:
    """Delete a list and its tasks (each with its task.deleted event)."""
    lists.delete(runtime(), user_id, list_id, versions.if_match("list"))
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
    return jsonify(quickadd.parse(runtime(), user_id, body))
