"""Query and result of the Todoist import, and the account export (GET /export)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from shared.web.schemas import Out, Query, example


class TodoistQuery(Query):
    model_config = example({"list": "Moving house", "dry_run": True}, extra="forbid")
    list: Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S"), AfterValidator(str.strip)] = Field(
        description="The name of the new list the file goes into (a name one of your lists has is refused: 409)"
    )
    dry_run: bool = Field(default=False, description="Only report what the import would create")


class TodoistCounts(Out):
    """What the import creates (or, with dry_run, would create)."""

    tasks: int = Field(description="Top-level tasks (INDENT 1)")
    subtasks: int = Field(description="Sub-tasks (INDENT 2-4), each under the task above it one level up")
    sections: int
    comments: int = Field(description="Notes, as comments on the task above them")
    series: int = Field(description="Tasks among the above whose DATE repeats (every …, every! …)")


class TodoistUnsupported(Out):
    """Something in the file TaskFlow does not keep, with the line it is on."""

    line: int | None
    column: str
    reason: str


#: Named before TodoistResult, whose field `list` hides the builtin inside its body.
UnsupportedItems = list[TodoistUnsupported]


class ImportedList(Out):
    id: str
    name: str


class TodoistResult(Out):
    model_config = example(
        {
            "dry_run": False,
            "list": {"id": "5f0c2b1e-9d7a-4c3b-8e6f-1a2b3c4d5e6f", "name": "Moving house"},
            "created": {"tasks": 12, "subtasks": 5, "sections": 3, "comments": 4, "series": 2},
            "unsupported": [{"line": 7, "column": "RESPONSIBLE", "reason": "TaskFlow does not keep this column"}],
        }
    )
    dry_run: bool
    list: ImportedList | None = Field(description="The list made (null on a dry run)")
    created: TodoistCounts
    unsupported: UnsupportedItems


class ExportOut(Out):
    """Everything of the account, as one document (`version` says its shape)."""

    model_config = example(
        {
            "version": 1,
            "exported_at": "2026-12-03T09:00:00Z",
            "user": {"id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf", "email": "ada@example.com", "timezone": "UTC"},
            "preferences": {"timezone": "Europe/Berlin", "email_reminders": False},
            "lists": [{"id": "5f0c2b1e-9d7a-4c3b-8e6f-1a2b3c4d5e6f", "name": "Home"}],
            "sections": [
                {"id": "a1", "list_id": "5f0c2b1e-9d7a-4c3b-8e6f-1a2b3c4d5e6f", "name": "Kitchen", "position": 1.0}
            ],
            "tasks": [{"id": "t1", "title": "Paint", "parent_task_id": None, "section_id": "a1", "all_day": True}],
            "comments": [{"id": "c1", "task_id": "t1", "text": "White", "created_at": "2026-12-01T10:00:00Z"}],
            "reminders": [],
            "filters": [{"id": "f1", "name": "Urgent", "query": "p1 & today"}],
        }
    )
    version: int = Field(description="The document's shape; 1 today")
    exported_at: str
    user: dict[str, Any]  # Any: JSON values
    preferences: dict[str, Any] | None
    lists: list[dict[str, Any]]
    sections: list[dict[str, Any]]
    tasks: list[dict[str, Any]] = Field(description="Every task, sub-task, series and instance (as the API shows it)")
    comments: list[dict[str, Any]]
    reminders: list[dict[str, Any]]
    filters: list[dict[str, Any]]
