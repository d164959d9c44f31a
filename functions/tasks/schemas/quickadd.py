"""Request and response bodies of quick add (POST /api/<user_id>/parse), described once (pydantic v2)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from shared.web.schemas import Body, Out, Timezone, UtcTime, example


def _reference_time(value: dt.datetime) -> dt.datetime:
    """A reference time with room around it: "tomorrow", "at 9pm" and a series' first days stay in 1900-9999."""
    if not dt.datetime(1901, 1, 1, tzinfo=dt.UTC) <= value < dt.datetime(9999, 1, 1, tzinfo=dt.UTC):
        raise ValueError("must be in the years 1901-9998")
    return value


def _one_line(value: str) -> str:
    """Quick add reads one line: several lines are several tasks (the web app sends each on its own)."""
    if "\n" in value or "\r" in value:
        raise ValueError("must be one line: send each line on its own (each line is one task)")
    return value


class ParseRequest(Body):
    model_config = example({"text": "Pay rent every month on the 1st at 9am #home !high remind 1 day before"})
    text: Annotated[
        str,
        Field(min_length=1, max_length=500, pattern=r"\S", description="One line: each pasted line is sent on its own"),
        AfterValidator(_one_line),
    ]
    timezone: Timezone | None = Field(default=None, description="Default: the user's preferences")
    now: Annotated[UtcTime, AfterValidator(_reference_time)] | None = Field(
        default=None, description="Reference time (RFC 3339, years 1901-9998); default: the server's"
    )


class Chip(Out):
    kind: Literal["date", "time", "recurrence", "until", "count", "start", "tag", "list", "priority", "reminder"]
    text: str
    start: int
    end: int
    note: str | None = Field(
        default=None, description="How the words were read when that is not plain: a typo, a day/month order"
    )


class Question(Out):
    field: str
    question: str
    options: list[str] | SkipJsonSchema[None] = None


class ParsedReminder(Out):
    minutes_before: int


class Parsed(Out):
    """One line of plain English read as a task; `questions` instead of a guess where it is ambiguous."""

    model_config = example(
        {
            "title": "Pay rent",
            "due_date": "2026-12-01T09:00:00+01:00",
            "all_day": False,
            "timezone": "Europe/Paris",
            "priority": "high",
            "tags": [],
            "list": "Home",
            "list_id": "5f0c2b1e-9d7a-4c3b-8e6f-1a2b3c4d5e6f",
            "recurrence_rule": "FREQ=MONTHLY;BYMONTHDAY=1",
            "repeat_from": "schedule",
            "reminders": [{"minutes_before": 1440}],
            "occurrences": ["2026-12-01T09:00:00+01:00", "2027-01-01T09:00:00+01:00"],
            "chips": [{"kind": "recurrence", "text": "every month on the 1st", "start": 9, "end": 31, "note": None}],
            "questions": [],
        }
    )
    title: str
    due_date: dt.datetime | dt.date | None = Field(
        description='RFC 3339 with the zone\'s offset; a date alone ("2026-12-24") when all_day'
    )
    all_day: bool = Field(description="A date without a time of day was read: create an all-day task")
    timezone: str
    priority: Literal["none", "low", "medium", "high", "urgent"]
    tags: list[str]
    list_name: str | None = Field(alias="list", description="The list `#name` named, if it is one of the user's")
    list_id: str | None
    recurrence_rule: str | None
    repeat_from: Literal["schedule", "completion"]
    reminders: list[ParsedReminder]
    occurrences: list[dt.datetime | dt.date] = Field(description="A series' next days: dates alone when all_day")
    chips: list[Chip]
    questions: list[Question]
