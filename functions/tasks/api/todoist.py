"""Moving in from Todoist (POST /import/todoist, a project CSV) and exporting everything (GET /export).

The import is a route of the calendar's import blueprint: it shares the imports' throttle (per client
address), as it may spend seconds of CPU too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify

from functions.tasks.api.calendar import import_bp
from functions.tasks.core import export as export_core
from functions.tasks.schemas.todoist import ExportOut, TodoistQuery, TodoistResult
from functions.tasks.todoist import service
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("export", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)


@import_bp.post("/import/todoist")
@operation(
    query=TodoistQuery,
    body_media_type="text/csv",
    responses={200: TodoistResult, 201: TodoistResult},
    problems=[409, 429],
    summary="Import a Todoist project CSV into a new list: sections, sub-tasks, comments, labels, dates in words",
    tags=["import"],
)
def import_todoist(user_id: str, query: TodoistQuery, body: str) -> ResponseReturnValue:
    """Make a new list from a Todoist project CSV (?dry_run=true only shows what it would create)."""
    result = service.import_csv(runtime(), user_id, body.encode(), query.list, query.dry_run)
    return jsonify(result), 200 if query.dry_run else 201


@bp.get("/export")
@operation(responses={200: ExportOut}, summary="Everything of the account as one JSON document", tags=["export"])
def export(user_id: str) -> ResponseReturnValue:
    """Every task, list, section, comment, reminder, filter and preference of the account."""
    document = export_core.export(runtime(), user_id)
    response = Response(json.dumps(document, ensure_ascii=False), mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="taskflow-export.json"'
    response.headers["Cache-Control"] = "no-store"
    return response
