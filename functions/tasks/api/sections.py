"""Sections of a list (/api/<user_id>/lists/<id>/sections) and comments on a task (…/tasks/<id>/comments,
/api/<user_id>/comments/<id>): each route parses, makes one call into functions.tasks.core, answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify

from functions.tasks.core import comments, sections
from functions.tasks.schemas.sections import (
    CommentBody,
    CommentCounts,
    CommentOut,
    CommentPage,
    SectionCreate,
    SectionOut,
    SectionPage,
    SectionUpdate,
)
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("sections", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)


@bp.get("/lists/<id:list_id>/sections")
@operation(responses={200: SectionPage}, summary="The sections of a list, in order", tags=["sections"])
def index(user_id: str, list_id: str) -> ResponseReturnValue:
    """The sections of one of the user's lists, in order."""
    return jsonify(items=sections.index(runtime(), user_id, list_id))


@bp.post("/lists/<id:list_id>/sections")
@operation(body=SectionCreate, responses={201: SectionOut}, summary="Add a section to a list", tags=["sections"])
def create(user_id: str, list_id: str, body: SectionCreate) -> ResponseReturnValue:
    """Add a section at the end of a list (or at its position)."""
    section = sections.create(runtime(), user_id, list_id, body)
    response = jsonify(section)
    response.status_code = 201
    response.headers["Location"] = f"/api/{user_id}/lists/{list_id}/sections/{section['id']}"
    return response


@bp.put("/lists/<id:list_id>/sections/<id:section_id>")
@operation(
    body=SectionUpdate, responses={200: SectionOut}, summary="Rename or move (reorder) a section", tags=["sections"]
)
def update(user_id: str, list_id: str, section_id: str, body: SectionUpdate) -> ResponseReturnValue:
    """Rename a section or move it (position)."""
    return jsonify(sections.update(runtime(), user_id, list_id, section_id, body))


@bp.delete("/lists/<id:list_id>/sections/<id:section_id>")
@operation(
    responses={204: None},
    summary="Delete a section; its tasks move to the list's top (one task.updated each)",
    tags=["sections"],
)
def delete(user_id: str, list_id: str, section_id: str) -> ResponseReturnValue:
    """Delete a section; its tasks stay in the list, at its top."""
    sections.delete(runtime(), user_id, list_id, section_id)
    return Response(status=204)


@bp.get("/tasks/<id:task_id>/comments")
@operation(responses={200: CommentPage}, summary="A task's comments, oldest first", tags=["comments"])
def list_comments(user_id: str, task_id: str) -> ResponseReturnValue:
    """A task's comments, oldest first."""
    return jsonify(items=comments.index(runtime(), user_id, task_id))


@bp.post("/tasks/<id:task_id>/comments")
@operation(body=CommentBody, responses={201: CommentOut}, summary="Comment on a task (plain text)", tags=["comments"])
def add_comment(user_id: str, task_id: str, body: CommentBody) -> ResponseReturnValue:
    """Add a plain-text comment to a task."""
    comment = comments.add(runtime(), user_id, task_id, body.text)
    response = jsonify(comment)
    response.status_code = 201
    response.headers["Location"] = f"/api/{user_id}/comments/{comment['id']}"
    return response


@bp.get("/comments/counts")
@operation(responses={200: CommentCounts}, summary="How many comments each commented task has", tags=["comments"])
def comment_counts(user_id: str) -> ResponseReturnValue:
    """{task_id: number of comments} for the user's tasks that have any."""
    return jsonify(counts=comments.counts(runtime(), user_id))


@bp.put("/comments/<id:comment_id>")
@operation(body=CommentBody, responses={200: CommentOut}, summary="Edit a comment's text", tags=["comments"])
def edit_comment(user_id: str, comment_id: str, body: CommentBody) -> ResponseReturnValue:
    """Change a comment's text."""
    return jsonify(comments.edit(runtime(), user_id, comment_id, body.text))


@bp.delete("/comments/<id:comment_id>")
@operation(responses={204: None}, summary="Delete a comment", tags=["comments"])
def delete_comment(user_id: str, comment_id: str) -> ResponseReturnValue:
    """Delete a comment."""
    comments.delete(runtime(), user_id, comment_id)
    return Response(status=204)
