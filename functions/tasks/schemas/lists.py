"""Request and response bodies of the lists routes, described once (pydantic v2).

The routes validate with these models (shared.web.operations.operation) and /openapi.json is generated from them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from shared.web.schemas import Body, Out, example

ListName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S"), AfterValidator(str.strip)]
Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#3b82f6"]), AfterValidator(str.lower)]
Position = Annotated[float, Field(gt=-1e12, lt=1e12)]


class ListCreate(Body):
    model_config = example({"name": "Home", "color": "#3b82f6"})
    name: ListName
    color: Color = "#808080"
    position: Position | None = None


class ListUpdate(Body):
    model_config = example({"name": "House"}, {"archived": True})
    name: ListName | SkipJsonSchema[None] = None
    color: Color | SkipJsonSchema[None] = None
    archived: bool | SkipJsonSchema[None] = None
    position: Position | SkipJsonSchema[None] = None

    def given(self) -> dict[str, Any]:  # Any: the fields' types vary
        """The fields the client sent."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ListPatch(Body):
    """Changes a person made to a list from the version they started from, merged with others' (as tasks)."""

    model_config = example({"base_version": 2, "changes": {"name": "House"}})
    base_version: Annotated[int, Field(ge=1, le=2**31 - 1, description="The list's version the person started from")]
    changes: ListUpdate


LIST_EXAMPLE: dict[str, Any] = {
    "id": "5f0c2b1e-9d7a-4c3b-8e6f-1a2b3c4d5e6f",
    "user_id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf",
    "name": "Home",
    "color": "#3b82f6",
    "archived": False,
    "position": 1.0,
    "version": 1,
    "created_at": "2026-02-14T15:30:45.123Z",
    "updated_at": "2026-02-14T15:30:45.123Z",
}


class ListOut(Out):
    """A list as the API and its events show it (`task_count`, open tasks, in GET …/lists only)."""

    model_config = example(LIST_EXAMPLE)
    id: str
    user_id: str
    name: str
    color: str
    archived: bool
    position: float
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    task_count: int | SkipJsonSchema[None] = None


class ListPage(Out):
    model_config = example({"items": [{**LIST_EXAMPLE, "task_count": 3}]})
    items: list[ListOut]
