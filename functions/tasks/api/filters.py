"""Saved filters under /api/<user_id>/filters: each route parses, makes one call into core.filters, answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify

from functions.tasks.core import filters
from functions.tasks.schemas.filters import FilterCreate, FilterOut, FilterPage, FilterUpdate
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("filters", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)


@bp.get("/filters")
@operation(
    responses={200: FilterPage},
    summary="The saved filters, in order, each with its open tasks' count",
    tags=["filters"],
)
def index(user_id: str) -> ResponseReturnValue:
    """Every saved filter of the user, in order, with its number of open tasks."""
    return jsonify(items=filters.index(runtime(), user_id))


@bp.post("/filters")
@operation(
    body=FilterCreate, responses={201: FilterOut}, summary="Save a filter (its query must read)", tags=["filters"]
)
def create(user_id: str, body: FilterCreate) -> ResponseReturnValue:
    """Save a filter."""
    saved = filters.create(runtime(), user_id, body)
    response = jsonify(saved)
    response.status_code = 201
    response.headers["Location"] = f"/api/{user_id}/filters/{saved['id']}"
    return response


@bp.put("/filters/<id:filter_id>")
@operation(
    body=FilterUpdate,
    responses={200: FilterOut},
    summary="Rename, re-query, recolour or move a filter",
    tags=["filters"],
)
def update(user_id: str, filter_id: str, body: FilterUpdate) -> ResponseReturnValue:
    """Change some fields of a saved filter."""
    return jsonify(filters.update(runtime(), user_id, filter_id, body))


@bp.delete("/filters/<id:filter_id>")
@operation(responses={204: None}, summary="Delete a saved filter (its tasks stay)", tags=["filters"])
def delete(user_id: str, filter_id: str) -> ResponseReturnValue:
    """Delete a saved filter."""
    filters.delete(runtime(), user_id, filter_id)
    return Response(status=204)
