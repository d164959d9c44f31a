"""Bodies and query strings of the calendar routes: the feed URL, the .ics feed and the .ics import."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.web.schemas import Out, Query, example


class FeedOut(Out):
    """A calendar subscription URL; the token is the only credential calendar clients send."""

    model_config = example(
        {
            "token": "vN3q0cTgX2bCkS1pJ7uYzQ4eW9rA6mH8dL5fG0iK3oE",
            "url": "https://taskflow.example/ical/vN3q0cTgX2bCkS1pJ7uYzQ4eW9rA6mH8dL5fG0iK3oE.ics",
            "webcal_url": "webcal://taskflow.example/ical/vN3q0cTgX2bCkS1pJ7uYzQ4eW9rA6mH8dL5fG0iK3oE.ics",
        },
        extra="forbid",
    )
    token: str
    url: str
    webcal_url: str


class CurrentFeed(Out):
    """The feed URL made last (shown again); null when it was made before links could be shown again."""

    model_config = example(
        {
            "url": "https://taskflow.example/ical/vN3q0cTgX2bCkS1pJ7uYzQ4eW9rA6mH8dL5fG0iK3oE.ics",
            "webcal_url": "webcal://taskflow.example/ical/vN3q0cTgX2bCkS1pJ7uYzQ4eW9rA6mH8dL5fG0iK3oE.ics",
            "created_at": "2026-12-03T08:00:00+00:00",
        }
    )
    url: str | None
    webcal_url: str | None
    created_at: str = Field(description="When this link was made (RFC 3339)")


class FeedQuery(Query):
    model_config = example({"type": "todo"}, extra="forbid")
    type: Literal["event", "todo"] = Field(
        default="event", description="VEVENTs (what Google and Apple Calendar show) or VTODOs"
    )


class ImportQuery(Query):
    model_config = example({"dry_run": True}, extra="forbid")
    dry_run: bool = Field(default=False, description="Only report what the import would create")


class ImportCounts(Out):
    """The rows the import stores (or, with dry_run, would store)."""

    tasks: int = Field(description="One-off tasks and instances of series (completed or moved occurrences)")
    series: int = Field(description="Recurring series (one per RRULE)")
    skipped: int = Field(description="Skipped occurrences of the series: their EXDATEs and cancelled occurrences")
    reminders: int


class Unsupported(Out):
    """Something in the file TaskFlow does not keep, with the line it is on."""

    line: int | None
    component: str
    property: str
    reason: str


class ImportResult(Out):
    model_config = example(
        {
            "dry_run": True,
            "created": {"tasks": 2, "series": 1, "skipped": 1, "reminders": 2},
            "unsupported": [
                {"line": 18, "component": "VEVENT", "property": "LOCATION", "reason": "not kept"},
                {
                    "line": 20,
                    "component": "VEVENT",
                    "property": "EXDATE",
                    "reason": "2054-12-13T14:30:00+00:00 is not an occurrence of the RRULE: ignored",
                },
            ],
        }
    )
    dry_run: bool
    created: ImportCounts
    unsupported: list[Unsupported]
