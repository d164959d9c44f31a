"""Every request and response body and query string of the tasks API, described once.

The routes validate with these models (shared.web.operations.operation) and /openapi.json is generated
from them: change a contract here, nowhere else.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import pathlib
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainValidator, RootModel, ValidationInfo, WithJsonSchema, field_validator
from pydantic.json_schema import SkipJsonSchema

from shared.domain.events import TOPIC_OF
from shared.domain.times import BadValue
from shared.web.schemas import Body, Out, Query, Timezone, UtcTime, WallClock, example, localize

Priority = Literal["none", "low", "medium", "high", "urgent"]
RepeatFrom = Literal["schedule", "completion"]
if TYPE_CHECKING:
    EventType = str
else:  # an enum of the event catalog (shared.domain.events), its one source
    EventType = Literal[tuple(TOPIC_OF)]
MAX_MINUTES_BEFORE = 366 * 24 * 60
_ID_RE = re.compile(r"[0-9A-Za-z-]{1,64}")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")

# --- accounts ---------------------------------------------------------------------------------


def _email(value: str) -> str:
    if len(value) > 320 or not EMAIL_RE.match(value.strip()):
        raise BadValue("must be a valid email address")
    return value.strip().lower()


@functools.cache
def common_passwords() -> frozenset[str]:
    """The blocklist shipped beside this module, common_passwords.txt (no network)."""
    text = (pathlib.Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def new_password(value: str, email_address: str | None) -> str:
    """A password for a new account: not blank, not common, not the email (NIST SP 800-63B)."""
    folded = value.casefold()
    if not value.strip():
        raise BadValue("must not be only whitespace")
    if len(set(folded)) < 3:
        raise BadValue("must not repeat one or two characters")
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise BadValue("is too common; choose a longer, less guessable one")
    if email_address:
        local = email_address.split("@", 1)[0]
        if email_address in folded or (len(local) >= 4 and local in folded) or "taskflow" in folded:
            raise BadValue("must not contain your email address or the service name")
    return value


Email = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"}), AfterValidator(_email)]
Password = Annotated[str, Field(min_length=8, max_length=128)]


class Login(Body):
    model_config = example({"email": "ada@example.com", "password": "correct horse battery"})
    email: Email
    password: Password


class Registration(Login):
    """A new account's password must also be uncommon and unrelated to the email."""

    password: Annotated[
        Password,
        Field(
            description="8-128 characters; not blank, not one or two repeated characters, not a common "
            "password, not containing the email or the service name (NIST SP 800-63B)"
        ),
    ]

    @field_validator("password")
    @classmethod
    def _strong(cls, value: str, info: ValidationInfo) -> str:
        return new_password(value, info.data.get("email"))


class Token(Out):
    model_config = example({"user_id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf", "token": "eyJhbGciOiJIUzI1NiJ9.e30.x"})
    user_id: str
    token: str


# --- tasks ------------------------------------------------------------------------------------


def _tags(value: list[str] | None) -> list[str]:
    """Stripped, without duplicates, in the given order."""
    return list(dict.fromkeys(tag.strip() for tag in value or []))


#: One line: a title ends up in an email's Subject header and in calendar SUMMARYs, where a line
#: break or another control character (tab aside) cannot go.
_ONE_LINE = r"^[^\x00-\x08\x0A-\x1F\x7F]*[^\s\x00-\x1F\x7F][^\x00-\x08\x0A-\x1F\x7F]*$"
Title = Annotated[str, Field(min_length=1, max_length=500, pattern=_ONE_LINE), AfterValidator(str.strip)]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"\S")]
Tags = Annotated[Annotated[list[Tag], Field(max_length=20)] | None, AfterValidator(_tags)]


class TaskFields(Body):
    """The fields a create or update may set; unset ones are left alone."""

    model_config = example({"title": "Water the plants", "due_date": "2026-03-01T09:00:00", "priority": "low"})
    title: Title | SkipJsonSchema[None] = None  # never null (Body): the default only lets an update omit it
    description: Annotated[str | None, Field(max_length=10_000)] = None
    due_date: WallClock | None = None
    timezone: Timezone = Field(
        default="UTC",
        description="IANA zone of the due date and rule; on create, left out: the user's preferred zone, else UTC",
    )
    priority: Priority = "none"
    tags: Tags = None
    list_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,64}$")] | None = Field(
        default=None, description="One of the user's lists (another user's list: 422), or null for the Inbox"
    )
    position: Annotated[float, Field(gt=-1e12, lt=1e12)] | None = Field(
        default=None, description="Manual order (drag to reorder); null sorts after the ordered ones"
    )

    def given(self, default_tz: str) -> dict[str, Any]:
        """The fields the client sent, with a due date read in the (new) task timezone; Any: their types vary."""
        values = {name: getattr(self, name) for name in self.model_fields_set}
        tz = values.get("timezone", default_tz)
        if values.get("due_date") is not None:
            values["due_date"] = localize(values["due_date"], tz, "due_date")
        if "tags" in values:
            values["tags"] = values["tags"] or []
        return values


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


class TaskCreate(TaskFields):
    model_config = example(
        {"title": "Water the plants"},
        {
            "title": "Stand-up",
            "due_date": "2026-03-02T09:00:00",
            "timezone": "Europe/Paris",
            "priority": "medium",
            "tags": ["work"],
            "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "reminders": [{"minutes_before": 10}],
        },
    )
    title: Title
    recurrence_rule: Annotated[str, Field(min_length=1, max_length=2000)] | SkipJsonSchema[None] = None
    repeat_from: RepeatFrom = "schedule"
    reminders: Annotated[list[ReminderSpec], Field(max_length=20)] = []

    def given(self, default_tz: str) -> dict[str, Any]:
        values = super().given(default_tz)
        return {k: v for k, v in values.items() if k not in ("recurrence_rule", "repeat_from", "reminders")}


class TaskUpdate(TaskFields):
    model_config = example({"title": "Water the plants twice", "priority": "high"})


class Completion(Body):
    model_config = example({"completed": True})
    completed: bool = True


class DueDate(Body):
    model_config = example({"due_date": "2026-03-01T09:00:00+01:00"}, {"due_date": None})
    due_date: WallClock | None


TASK_EXAMPLE: dict[str, Any] = {
    "id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
    "user_id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf",
    "title": "Water the plants",
    "description": None,
    "completed": False,
    "completed_at": None,
    "priority": "low",
    "tags": ["home"],
    "due_date": "2026-03-01T09:00:00+01:00",
    "timezone": "Europe/Paris",
    "recurrence_rule": None,
    "repeat_from": "schedule",
    "next_occurrence": None,
    "parent_id": None,
    "occurrence_at": None,
    "list_id": None,
    "position": None,
    "version": 1,
    "created_at": "2026-02-14T15:30:45.123Z",
    "updated_at": "2026-02-14T15:30:45.123Z",
}


class TaskOut(Out):
    """A task as the API and its events show it."""

    model_config = example(TASK_EXAMPLE, extra="forbid")
    id: str
    user_id: str
    title: str
    description: str | None
    completed: bool
    completed_at: dt.datetime | None
    priority: Priority
    tags: list[str]
    due_date: dt.datetime | None
    timezone: str
    recurrence_rule: str | None
    repeat_from: RepeatFrom
    next_occurrence: dt.datetime | None
    parent_id: str | None
    occurrence_at: dt.datetime | None
    list_id: str | None
    position: float | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- listing tasks ----------------------------------------------------------------------------


def encode_cursor(created_at: dt.datetime, task_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: object) -> tuple[dt.datetime, str]:
    try:
        if not isinstance(value, str):
            raise TypeError
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        created, task_id = json.loads(raw)
        parsed = dt.datetime.fromisoformat(created)
        if parsed.tzinfo is None or not isinstance(task_id, str) or not _ID_RE.fullmatch(task_id):
            raise ValueError
        parsed = parsed.astimezone(dt.UTC)
        if not 1900 <= parsed.year <= 9999:
            raise ValueError
        return parsed, task_id
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BadValue("is not a cursor this API issued") from None


_CURSOR_SCHEMA = {"type": "string", "maxLength": 400, "description": "next_cursor of the previous page"}
TaskCursor = Annotated[tuple[dt.datetime, str], PlainValidator(decode_cursor), WithJsonSchema(_CURSOR_SCHEMA)]
SearchText = Annotated[str, Field(max_length=200)]


class TaskQuery(Query):
    model_config = example({"completed": False, "tag": "home", "limit": 20}, extra="forbid")
    completed: bool | None = None
    due_before: UtcTime | None = None
    due_after: UtcTime | None = None
    q: SearchText | None = Field(default=None, description="Text in the title or description")
    tag: SearchText | None = None
    priority: Priority | None = None
    list_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,64}$")] | None = Field(
        default=None, description="A list's id, or `none` for the Inbox (tasks in no list)"
    )
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: TaskCursor | None = None


class TaskPage(Out):
    model_config = example({"items": [], "next_cursor": None})
    items: list[TaskOut]
    next_cursor: str | None


# --- recurrence -------------------------------------------------------------------------------

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


# --- reminders --------------------------------------------------------------------------------


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


class PendingReminders(Out):
    model_config = example(
        {
            "items": [
                {
                    "id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
                    "task_id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
                    "task_title": "Water the plants",
                    "remind_at": "2026-03-01T08:30:00+01:00",
                }
            ]
        }
    )
    items: list[PendingReminder]


# --- event history ----------------------------------------------------------------------------


def _decode_row_cursor(value: object) -> int:
    try:
        if not isinstance(value, str):
            raise TypeError
        row_id = int(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        raise BadValue("is not a cursor this API issued") from None
    if not 0 <= row_id < 2**63:  # a bigint column: anything else overflows the query
        raise BadValue("is not a cursor this API issued")
    return row_id


def encode_row_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(str(row_id).encode()).decode().rstrip("=")


class EventQuery(Query):
    model_config = example({"event_type": "task.completed", "limit": 50}, extra="forbid")
    event_type: EventType | None = None
    aggregate_id: Annotated[str, Field(max_length=64)] | None = None
    since: UtcTime | None = None
    until: UtcTime | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 100
    cursor: Annotated[int, PlainValidator(_decode_row_cursor), WithJsonSchema(_CURSOR_SCHEMA)] | None = None


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


# --- calendar (feed URL, .ics feed, .ics import) --------------------------------------------


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
