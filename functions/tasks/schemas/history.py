"""Query strings and bodies of the event history routes (/api/<user_id>/events, a task's events, its replay)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, RootModel

from functions.tasks.schemas.paging import RowCursor
from functions.tasks.schemas.tasks import TASK_EXAMPLE, TaskOut
from shared.domain.events import TOPIC_OF
from shared.web.schemas import Out, Query, UtcTime, example

if TYPE_CHECKING:
    EventType = str
else:  # an enum of the event catalog (shared.domain.events), its one source
    EventType = Literal[tuple(TOPIC_OF)]


class EventQuery(Query):
    model_config = example({"event_type": "task.completed", "limit": 50}, extra="forbid")
    event_type: EventType | None = None
    aggregate_id: Annotated[str, Field(max_length=64)] | None = None
    since: UtcTime | None = None
    until: UtcTime | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 100
    cursor: RowCursor | None = None


class EventOut(Out):
    event_id: str
    event_type: str
    aggregate_id: str | None
    timestamp: dt.datetime
    correlation_id: str | None
    request_id: str | None
    client_ip: str | None
    user_agent: str | None
    data: dict[str, Any]
    version: int


class EventPage(Out):
    model_config = example(
        {
            "items": [
                {
                    "event_id": "6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f",
                    "event_type": "task.created",
                    "aggregate_id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
                    "timestamp": "2026-02-14T15:30:45.123Z",
                    "correlation_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                    "request_id": None,
                    "client_ip": "203.0.113.7",
                    "user_agent": "curl/8.5.0",
                    "data": {"title": "Water the plants"},
                    "version": 1,
                }
            ],
            "next_cursor": None,
        }
    )
    items: list[EventOut]
    next_cursor: str | None = None


class EventList(Out):
    model_config = example({"items": []})
    items: list[EventOut]


class DeletedTask(Out):
    """A deleted task as its events left it."""

    model_config = example({"deleted": True, "task": TASK_EXAMPLE}, extra="forbid")
    deleted: Literal[True]
    task: TaskOut


class Replay(RootModel[TaskOut | DeletedTask]):
    """The task rebuilt from its events; once deleted, {deleted: true, task}. The shapes never overlap."""

    model_config = example({"deleted": True, "task": TASK_EXAMPLE})
