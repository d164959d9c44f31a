"""Request and response bodies of the recurrence routes: a task's rule, its preview, and skipping or
completing one occurrence of a series, described once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from functions.tasks.schemas.tasks import RepeatFrom
from shared.web.schemas import Body, Out, Timezone, WallClock, example

Rrule = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="RFC 5545 RRULE, with or without `RRULE:` (and optionally a DTSTART line)",
        examples=["FREQ=WEEKLY;BYDAY=MO"],
    ),
]


class RecurrenceSet(Body):
    model_config = example({"recurrence_rule": "FREQ=WEEKLY;BYDAY=MO", "timezone": "Europe/Paris"})
    recurrence_rule: Rrule
    timezone: Timezone | SkipJsonSchema[None] = None
    dtstart: WallClock | SkipJsonSchema[None] = None
    repeat_from: RepeatFrom = "schedule"


class Preview(Body):
    model_config = example({"recurrence_rule": "FREQ=DAILY", "dtstart": "2026-03-01T09:00:00", "count": 3})
    recurrence_rule: Rrule
    dtstart: WallClock | SkipJsonSchema[None] = None
    timezone: Timezone = "UTC"
    count: Annotated[int, Field(ge=1, le=500)] = 5
    after: WallClock | SkipJsonSchema[None] = None


class Occurrences(Out):
    model_config = example({"occurrences": ["2026-03-01T09:00:00Z", "2026-03-02T09:00:00Z"]})
    occurrences: list[dt.datetime]


class Series(Out):
    model_config = example(
        {
            "id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
            "title": "Stand-up",
            "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO",
            "timezone": "Europe/Paris",
            "repeat_from": "schedule",
            "next_occurrence": "2026-03-02T09:00:00+01:00",
        }
    )
    id: str
    title: str
    recurrence_rule: str | None
    timezone: str
    repeat_from: RepeatFrom
    next_occurrence: dt.datetime | None


class SeriesList(Out):
    model_config = example({"items": []})
    items: list[Series]


class Skip(Body):
    model_config = example({}, {"occurrence_at": "2026-03-09T09:00:00"})
    # On a series: which occurrence (default its next one); on an instance: leave it out.
    occurrence_at: WallClock | SkipJsonSchema[None] = None


class Skipped(Out):
    model_config = example(
        {
            "series_id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
            "occurrence_at": "2026-03-09T09:00:00+01:00",
            "deleted_instance_id": None,
            "next_occurrence": "2026-03-16T09:00:00+01:00",
        }
    )
    series_id: str
    occurrence_at: str
    deleted_instance_id: str | None
    next_occurrence: str | None


class OccurrenceDone(Out):
    model_config = example(
        {
            "series_id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
            "occurrence_at": "2026-03-09T09:00:00+01:00",
            "instance_id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
            "next_occurrence": "2026-03-16T09:00:00+01:00",
        }
    )
    series_id: str
    occurrence_at: str
    #: The completed instance (spawned for it when the occurrence had not come yet).
    instance_id: str
    next_occurrence: str | None
