"""Request and response bodies of a task's reminders, described once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema

from shared.domain.times import BadValue
from shared.web.schemas import Body, Out, WallClock, example

MAX_MINUTES_BEFORE = 366 * 24 * 60


class ReminderSpec(Body):
    """A reminder at a time ({remind_at}) or some minutes before the due date ({minutes_before}): exactly one."""

    model_config = example(
        {"minutes_before": 30},
        {"remind_at": "2031-01-01T08:00:00Z"},
        extra="forbid",
        oneOf=[{"required": ["remind_at"]}, {"required": ["minutes_before"]}],
    )
    # minutes_before comes first: remind_at's check sees whether it was given.
    minutes_before: Annotated[int, Field(ge=0, le=MAX_MINUTES_BEFORE)] | SkipJsonSchema[None] = None
    remind_at: WallClock | SkipJsonSchema[None] = Field(default=None, validate_default=True)

    @field_validator("remind_at")
    @classmethod
    def _exactly_one(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        if "minutes_before" not in info.data:
            return value  # minutes_before was invalid: that is the error to report
        if (value is None) == (info.data["minutes_before"] is None):
            raise BadValue("give exactly one of remind_at or minutes_before")
        return value


class ReminderOut(Out):
    model_config = example(
        {
            "id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
            "task_id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
            "remind_at": "2026-03-01T08:30:00+01:00",
            "minutes_before": 30,
            "notified": False,
            "outcome": None,
        }
    )
    id: str
    task_id: str
    remind_at: dt.datetime
    minutes_before: int | None
    notified: bool
    outcome: str | None


class ReminderList(Out):
    model_config = example({"items": []})
    items: list[ReminderOut]


class PendingReminder(Out):
    id: str
    task_id: str
    task_title: str
    remind_at: dt.datetime
    due_date: dt.datetime | dt.date | None = Field(description="The task's; a date alone when all_day")
    all_day: bool


class PendingReminders(Out):
    model_config = example(
        {
            "items": [
                {
                    "id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
                    "task_id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
                    "task_title": "Water the plants",
                    "remind_at": "2026-03-01T08:30:00+01:00",
                    "due_date": "2026-03-01T09:00:00+01:00",
                    "all_day": False,
                }
            ]
        }
    )
    items: list[PendingReminder]
