"""Request and response bodies of the saved filters routes (pydantic v2; /openapi.json is generated from them)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from functions.tasks.schemas.lists import Color, Position
from shared.web.schemas import Body, Out, example

FilterName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S"), AfterValidator(str.strip)]
FilterQuery = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1000,
        pattern=r"\S",
        description="A query in the filter language, e.g. `(today | overdue) & p1 & !@waiting`",
    ),
    AfterValidator(str.strip),
]


class FilterCreate(Body):
    model_config = example({"name": "Urgent now", "query": "(today | overdue) & p1", "color": "#dc2626"})
    name: FilterName
    query: FilterQuery
    color: Color = "#808080"
    position: Position | None = None


class FilterUpdate(Body):
    model_config = example({"query": "(today | overdue) & (p1 | p2)"}, {"name": "Waiting", "query": "@waiting"})
    name: FilterName | SkipJsonSchema[None] = None
    query: FilterQuery | SkipJsonSchema[None] = None
    color: Color | SkipJsonSchema[None] = None
    position: Position | SkipJsonSchema[None] = None

    def given(self) -> dict[str, Any]:  # Any: the fields' types vary
        """The fields the client sent."""
        return {name: getattr(self, name) for name in self.model_fields_set}


FILTER_EXAMPLE: dict[str, Any] = {
    "id": "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "user_id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf",
    "name": "Urgent now",
    "query": "(today | overdue) & p1",
    "color": "#dc2626",
    "position": 1.0,
    "version": 1,
    "created_at": "2026-02-14T15:30:45.123Z",
    "updated_at": "2026-02-14T15:30:45.123Z",
}


class FilterOut(Out):
    """A saved filter as the API and its events show it (`count`, its open tasks, in GET …/filters only)."""

    model_config = example(FILTER_EXAMPLE)
    id: str
    user_id: str
    name: str
    query: str
    color: str
    position: float
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    count: int | SkipJsonSchema[None] = None


class FilterPage(Out):
    model_config = example({"items": [{**FILTER_EXAMPLE, "count": 4}]})
    items: list[FilterOut]
