"""Request and response bodies of the sections and comments routes, described once (pydantic v2).

The routes validate with these models (shared.web.operations.operation) and /openapi.json is generated from them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from functions.tasks.schemas.lists import ListName, Position
from shared.web.schemas import Body, Out, example

#: The longest comment (plain text: links are made clickable by the web app, never HTML).
MAX_COMMENT = 10_000


class SectionCreate(Body):
    model_config = example({"name": "Next week"})
    name: ListName
    position: Position | None = Field(default=None, description="Left out: after the list's last section")


class SectionUpdate(Body):
    """Rename or move a section (reorder by position)."""

    model_config = example({"name": "This week"}, {"position": 0.5})
    name: ListName | SkipJsonSchema[None] = None
    position: Position | SkipJsonSchema[None] = None

    def given(self) -> dict[str, Any]:  # Any: the fields' types vary
        """The fields the client sent."""
        return {name: getattr(self, name) for name in self.model_fields_set}


SECTION_EXAMPLE: dict[str, Any] = {
    "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "list_id": "5f0c2b1e-9d7a-4c3b-8e6f-1a2b3c4d5e6f",
    "name": "Next week",
    "position": 1.0,
    "version": 1,
    "created_at": "2026-02-14T15:30:45.123Z",
    "updated_at": "2026-02-14T15:30:45.123Z",
}


class SectionOut(Out):
    """A section of a list as the API and its events show it."""

    model_config = example(SECTION_EXAMPLE)
    id: str
    list_id: str
    name: str
    position: float
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class SectionPage(Out):
    model_config = example({"items": [SECTION_EXAMPLE]})
    items: list[SectionOut]


def _not_blank(text: str) -> str:
    """A comment keeps its text as typed (line breaks and all), but is never only blanks."""
    if not text.strip():
        raise ValueError("a comment needs some text")
    return text


CommentText = Annotated[str, Field(min_length=1, max_length=MAX_COMMENT), AfterValidator(_not_blank)]


class CommentBody(Body):
    model_config = example({"text": "Call before noon: https://example.com/opening-hours"})
    text: CommentText


COMMENT_EXAMPLE: dict[str, Any] = {
    "id": "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a",
    "task_id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
    "text": "Call before noon: https://example.com/opening-hours",
    "version": 1,
    "created_at": "2026-02-14T15:30:45.123Z",
    "edited_at": None,
}


class CommentOut(Out):
    """A comment as the API and its events show it (plain text; `edited_at` set once edited)."""

    model_config = example(COMMENT_EXAMPLE)
    id: str
    task_id: str
    text: str
    version: int
    created_at: dt.datetime
    edited_at: dt.datetime | None


class CommentPage(Out):
    model_config = example({"items": [COMMENT_EXAMPLE]})
    items: list[CommentOut]


class CommentCounts(Out):
    """How many comments each of the user's tasks has (tasks without any left out)."""

    model_config = example({"counts": {"0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b": 2}})
    counts: dict[str, int]
