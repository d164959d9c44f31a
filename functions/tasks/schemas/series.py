"""Request and response bodies of skipping or completing a series' occurrence, described once (pydantic v2)."""

from __future__ import annotations

from pydantic.json_schema import SkipJsonSchema

from shared.web.schemas import Body, Out, WallClock, example


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
